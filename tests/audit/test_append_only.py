"""The audit log is append-only in both modes: the model guards, and under them the database
(a trigger on PostgreSQL, migration audit 0002; triggers on SQLite, migration 0003) refuses
UPDATE and DELETE from any client: the base manager, a plain QuerySet, raw SQL."""
from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet

from audit.models import AuditLog
from audit.services import audit_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def row(admin_user):
    return audit_record(action="user.block", entity_type="user", entity_id=1, user=admin_user, reason="spam")


ATTEMPTS = {
    "base manager update": lambda row: AuditLog._base_manager.filter(pk=row.pk).update(reason="edited"),
    "base manager delete": lambda row: AuditLog._base_manager.filter(pk=row.pk).delete(),
    "plain queryset update": lambda row: QuerySet(AuditLog).filter(pk=row.pk).update(reason="edited"),
    "plain queryset delete": lambda row: QuerySet(AuditLog).filter(pk=row.pk).delete(),
    "plain queryset raw delete": lambda row: QuerySet(AuditLog).filter(pk=row.pk)._raw_delete(connection.alias),
    "raw SQL update": lambda row: connection.cursor().execute(
        "UPDATE audit_auditlog SET reason = 'edited' WHERE id = %s", [row.pk]),
    "raw SQL delete": lambda row: connection.cursor().execute("DELETE FROM audit_auditlog WHERE id = %s", [row.pk]),
    "raw SQL delete all": lambda row: connection.cursor().execute("DELETE FROM audit_auditlog"),
}


@pytest.mark.parametrize("attempt", sorted(ATTEMPTS))
def test_the_database_refuses_changing_or_deleting_audit_rows(row, attempt):
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            ATTEMPTS[attempt](row)
    stored = AuditLog.objects.get(pk=row.pk)
    assert (stored.reason, AuditLog.objects.count()) == ("spam", 1)


def test_inserting_still_works(row, admin_user):
    audit_record(action="user.unblock", entity_type="user", entity_id=1, user=admin_user)
    assert AuditLog.objects.count() == 2
