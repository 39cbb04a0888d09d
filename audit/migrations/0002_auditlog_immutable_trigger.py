"""PostgreSQL: a trigger rejects UPDATE and DELETE on the audit log from any client (docs/access-and-hardening.md).

A no-op on other databases (SQLite in embedded mode relies on the app-level guards in
audit.models). TRUNCATE is not blocked: row triggers do not fire on it, and the test suite's
flush between transactional tests uses it; operators who may TRUNCATE also own the schema.
"""
from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION audit_auditlog_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_auditlog is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_auditlog_immutable ON audit_auditlog;
CREATE TRIGGER audit_auditlog_immutable BEFORE UPDATE OR DELETE ON audit_auditlog
    FOR EACH ROW EXECUTE FUNCTION audit_auditlog_immutable();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS audit_auditlog_immutable ON audit_auditlog;
DROP FUNCTION IF EXISTS audit_auditlog_immutable();
"""


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no placeholders: the % is plpgsql's

    return run


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
