"""SQLite: triggers refuse UPDATE and DELETE on the audit log from any client, as the
PostgreSQL trigger of 0002 does (docs/access-and-hardening.md, "Audit log").

`RAISE(ABORT, ...)` fails the statement (Django: IntegrityError). The one way past them is the
unlock table: a row in `audit_auditlog_unlock` lets DELETE through, which only a deliberate
raw-SQL session of the database's owner does (the counterpart of PostgreSQL's TRUNCATE, which
row triggers do not see): the test suite's flush between transactional tests (tests/conftest.py).
No model maps the table, so Django's own flush never empties it. A no-op on PostgreSQL.
"""
from django.db import migrations

FORWARD = [
    "CREATE TABLE IF NOT EXISTS audit_auditlog_unlock (unlocked integer NOT NULL)",
    """CREATE TRIGGER IF NOT EXISTS audit_auditlog_no_update BEFORE UPDATE ON audit_auditlog
       BEGIN SELECT RAISE(ABORT, 'audit_auditlog is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_auditlog_no_delete BEFORE DELETE ON audit_auditlog
       WHEN NOT EXISTS (SELECT 1 FROM audit_auditlog_unlock)
       BEGIN SELECT RAISE(ABORT, 'audit_auditlog is append-only: DELETE refused'); END""",
]

BACKWARD = [
    "DROP TRIGGER IF EXISTS audit_auditlog_no_update",
    "DROP TRIGGER IF EXISTS audit_auditlog_no_delete",
    "DROP TABLE IF EXISTS audit_auditlog_unlock",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for sql in statements:
                schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_auditlog_immutable_trigger")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
