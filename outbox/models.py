"""The transactional outbox: every live event, one row per (event, target group)."""
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class EventOutbox(models.Model):
    """An event for one realtime group (`user.<id>`, `admin` or `public`).

    Written with the state change it describes (`outbox.services.publish`), sent to the channel
    layer after commit, retried by the relay while pending. The id is the frame id clients use
    to drop duplicates and to resume (`{"type": "resume", "after": id}`), so it only grows.
    """

    channel = models.CharField(max_length=64)
    group = models.CharField(max_length=100)
    payload = models.JSONField(encoder=DjangoJSONEncoder)
    request_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=8, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "outbox event"
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx"),
            models.Index(fields=["group", "id"], name="outbox_group_id_idx"),
            # Pending rows by id: the relay's claim and its "earlier pending row?" check read only
            # pending rows, however many sent rows pile up.
            models.Index(fields=["id"], name="outbox_pending_id_idx", condition=models.Q(status="pending")),
            # Pending rows that failed or wait behind one: the relay's blockers (outbox.ordering).
            models.Index(fields=["id"], name="outbox_pending_marked_idx",
                         condition=models.Q(status="pending") & ~models.Q(last_error="")),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.channel} -> {self.group} ({self.status})"


class FollowUpStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class FollowUp(models.Model):
    """A Celery task to run after the transaction that wrote this row commits (the task outbox).

    Written with the change (`outbox.followups.followup_enqueue`); after commit the request sends
    ONE message carrying the ids of all its follow-ups, and the worker fans them out to their
    queues. The row turns `done` when its task succeeds; a row still pending at `next_attempt_at`
    (the message was lost, the broker was down, the worker died) is dispatched again by the relay
    (`followups_relay`), with backoff; after FOLLOWUP_MAX_DISPATCHES it is `failed` and named in an
    `admin.alert`. Tasks are idempotent, so a second run changes nothing (docs/operations.md).
    """

    task = models.CharField(max_length=200)
    kwargs = models.JSONField(encoder=DjangoJSONEncoder, default=dict)
    request_id = models.CharField(max_length=128, blank=True, default="")
    status = models.CharField(max_length=8, choices=FollowUpStatus.choices, default=FollowUpStatus.PENDING)
    dispatches = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "follow-up task"
        indexes = [
            models.Index(fields=["next_attempt_at", "id"], name="followup_due_idx",
                         condition=models.Q(status="pending")),
            models.Index(fields=["created_at"], name="followup_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.task}({self.kwargs}) {self.status}"
