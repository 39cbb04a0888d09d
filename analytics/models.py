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
