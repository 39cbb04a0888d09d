"""Listings posted by sellers and their moderation and expiry state (seed schema)."""
from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models


class ListingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


class Listing(models.Model):
    """A classified ad. Created pending; a moderator approves it (it then expires at
    `expires_at`, with reminders 3 days and 1 day before) or rejects it with a reason.
    Price in INR, 2 places. Status and dates change only through listings.services."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="listings")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=32)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=16, choices=ListingStatus.choices, default=ListingStatus.PENDING)
    reason = models.TextField(blank=True, default="")
    approved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_3d = models.BooleanField(default=False)
    reminder_sent_1d = models.BooleanField(default=False)
    expired_at = models.DateTimeField(null=True, blank=True)
    # Moderation claim (docs/moderation.md): who reviews this pending listing, until when. A claim
    # whose `claimed_until` has passed is no claim; services set and clear both together.
    claimed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="claimed_listings")
    claimed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The moderation queue: pending listings oldest first (listings.selectors.moderation_queue).
            models.Index(fields=["created_at", "id"], name="listing_pending_queue_idx",
                         condition=models.Q(status="pending")),
            models.Index(fields=["status", "expires_at"], name="listing_status_expiry_idx"),
            models.Index(fields=["owner", "status"], name="listing_owner_status_idx"),
            # The expiry job's reminder scans (listings.expiry): only approved, not yet reminded rows.
            models.Index(fields=["expires_at"], name="listing_remind1d_due_idx",
                         condition=models.Q(status="approved", reminder_sent_1d=False)),
            models.Index(fields=["expires_at"], name="listing_remind3d_due_idx",
                         condition=models.Q(status="approved", reminder_sent_3d=False)),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.status})"

    def live_claimant_id(self, now) -> int | None:
        """The id of the moderator whose claim is live at `now` (aware UTC), else None."""
        if self.claimed_by_id and self.claimed_until and self.claimed_until > now:
            return self.claimed_by_id
        return None


class ModerationQueue(Listing):
    """The moderation workspace in Django admin (listings.admin_workspace): a proxy, no table."""

    class Meta:
        proxy = True
        verbose_name = "moderation queue"
        verbose_name_plural = "moderation queue"


class CannedReason(models.Model):
    """A rejection reason moderators pick instead of typing (docs/moderation.md). Managed by
    admins in Django admin; `text` is what the seller reads (free text may be appended);
    inactive reasons stay for history but are not offered."""

    code = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=120, help_text="Short label shown to moderators.")
    text = models.TextField(help_text="The reason as the seller reads it.")
    position = models.PositiveIntegerField(default=0, help_text="Order in the picker (lowest first).")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class SearchDocument(models.Model):
    """The full-text search document of one live listing (approved and not expired).

    Written only by `listings.search.search_document_sync` (the `search` queue); a listing that is
    not live has no document. `search_vector` is PostgreSQL's tsvector (title weight A,
    description weight B) with a GIN index created by migration 0002 on PostgreSQL only; on
    SQLite it stays NULL and search falls back to containment on `title`/`description`.
    """

    listing = models.OneToOneField(Listing, on_delete=models.CASCADE, primary_key=True, related_name="search_document")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    category = models.CharField(max_length=32)
    search_vector = SearchVectorField(null=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["category"], name="searchdoc_category_idx")]

    def __str__(self) -> str:
        return f"search document of listing {self.listing_id}"
