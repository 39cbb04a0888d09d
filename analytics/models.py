"""Client analytics events, written in batches by the `analytics` queue."""
from django.conf import settings
from django.db import models


class AnalyticsEvent(models.Model):
    """One client event: `name`, the client's time `ts` (aware, stored UTC) and free-form
    `properties` (a JSON object of at most ANALYTICS_MAX_PROPERTIES_BYTES).

    `(batch_id, seq)` is unique — the request's batch and the event's index in it — so a batch
    inserted twice (a redelivered task) is stored once.
    """

    batch_id = models.UUIDField()
    seq = models.PositiveIntegerField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    name = models.CharField(max_length=100)
    ts = models.DateTimeField()
    properties = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()
    request_id = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["batch_id", "seq"], name="analytics_batch_seq_uniq")]
        indexes = [
            models.Index(fields=["name", "ts"], name="analytics_name_ts_idx"),
            models.Index(fields=["ts"], name="analytics_ts_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.ts:%Y-%m-%d %H:%M:%S}"


class DeadLetterStatus(models.TextChoices):
    PENDING = "pending", "pending"
    REPLAYED = "replayed", "replayed"


class AnalyticsDeadLetter(models.Model):
    """Events of an accepted batch that the worker could not store: kept, shown in Django
    admin, replayed by an admin action (analytics.services.dead_letter_replay); never dropped.

    `events` is the JSON text of `[{"seq", "name", "ts", "properties"}, ...]` written with ASCII
    escapes, so any text (even what the database refused) can be stored and shown. One row per
    batch (`batch_id` unique): a second failure of the same batch updates it. `error` is the
    last failure; `attempts` counts worker runs and replays that failed.
    docs/search-and-analytics.md, "Dead letters".
    """

    batch_id = models.UUIDField(unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    events = models.TextField()
    event_count = models.PositiveIntegerField()
    received_at = models.DateTimeField()
    request_id = models.CharField(max_length=128, blank=True, default="")
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=16, choices=DeadLetterStatus.choices, default=DeadLetterStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="analytics_dead_status_idx")]

    def __str__(self) -> str:
        return f"batch {self.batch_id}: {self.event_count} event(s), {self.status}"
