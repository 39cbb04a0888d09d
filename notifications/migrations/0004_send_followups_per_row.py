"""Follow-ups of the removed batch task `notifications.tasks.notifications_send_many` become one
follow-up of the send task per notification (docs/notifications.md, "Recording").

A follow-up naming a task no worker knows would fail at every dispatch, and the relay stops at
the first dispatch that fails; so the rows not done yet (pending, or failed and open to an admin's
retry) are rewritten, keeping their state. Done rows are history and stay as they are.
"""
from django.db import migrations

OLD_TASK = "notifications.tasks.notifications_send_many"
SEND_TASK = "notifications.tasks.notification_send_run"


def split_batches(apps, schema_editor):
    FollowUp = apps.get_model("outbox", "FollowUp")
    for row in FollowUp.objects.filter(task=OLD_TASK).exclude(status="done").order_by("id"):
        FollowUp.objects.bulk_create([
            FollowUp(task=SEND_TASK, kwargs={"notification_id": pk}, request_id=row.request_id, status=row.status,
                     dispatches=row.dispatches, next_attempt_at=row.next_attempt_at, last_error=row.last_error,
                     created_at=row.created_at)
            for pk in row.kwargs.get("notification_ids", [])])
        row.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("notifications", "0003_sweep_index"),
        ("outbox", "0004_followups"),
    ]

    operations = [migrations.RunPython(split_batches, migrations.RunPython.noop)]
