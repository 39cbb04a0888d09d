"""PostgreSQL only: wake the relay loop at the commit of outbox rows and follow-ups written due at
once (outbox.wake, docs/realtime.md "Write path"). A row-level trigger whose WHEN clause passes
only rows due at once (`next_attempt_at <= created_at`); PostgreSQL sends the notification at
commit and folds repeats within a transaction into one."""
from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION dgt_outbox_wake() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dgt_outbox_due', TG_ARGV[0]);
    RETURN NULL;
END
$$;
"""
TRIGGER = """
CREATE TRIGGER {name} AFTER INSERT ON {table} FOR EACH ROW
WHEN (NEW.next_attempt_at <= NEW.created_at) EXECUTE FUNCTION dgt_outbox_wake('{payload}');
"""
TABLES = (("EventOutbox", "outbox_due_wake", "events"), ("FollowUp", "followup_due_wake", "followups"))


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
    for model, name, payload in TABLES:
        table = schema_editor.quote_name(apps.get_model("outbox", model)._meta.db_table)
        schema_editor.execute(TRIGGER.format(name=name, table=table, payload=payload))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, name, _payload in TABLES:
        table = schema_editor.quote_name(apps.get_model("outbox", model)._meta.db_table)
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
    schema_editor.execute("DROP FUNCTION IF EXISTS dgt_outbox_wake()")


class Migration(migrations.Migration):

    dependencies = [
        ("outbox", "0004_followups"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
