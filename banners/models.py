"""Promotional banners shown in the apps, on a schedule (seed schema; docs/access-and-hardening.md)."""
from django.conf import settings
from django.db import models


class Placement(models.TextChoices):
    HOME = "home", "Home"
    CATEGORY = "category", "Category"
    SEARCH = "search", "Search"


class BannerStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"


PRIORITY_MIN = 0
PRIORITY_MAX = 1000


class Banner(models.Model):
    """A banner for one placement. Shown while status is active and start_date <= now, and
    (end_date is null or now < end_date). Higher priority first, then newest. Times aware UTC."""

    placement = models.CharField(max_length=16, choices=Placement.choices, db_index=True)
    title = models.CharField(max_length=200)
    image_url = models.URLField(max_length=1000)
    link = models.URLField(max_length=1000, blank=True, default="")
    start_date = models.DateTimeField()
    end_date = models.DateTimeField(null=True, blank=True)
    priority = models.IntegerField(default=0)
    status = models.CharField(max_length=16, choices=BannerStatus.choices, default=BannerStatus.ACTIVE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="banners")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "-created_at", "-id"]
        indexes = [models.Index(fields=["placement", "status", "start_date"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(end_date__isnull=True) | models.Q(end_date__gt=models.F("start_date")),
                                   name="banner_end_after_start"),
            models.CheckConstraint(condition=models.Q(priority__gte=PRIORITY_MIN, priority__lte=PRIORITY_MAX),
                                   name="banner_priority_range"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.placement})"
