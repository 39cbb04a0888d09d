"""core.compiled.CompiledRows (rows of a values_list query, compiled once per number of values) and
CompiledInsert (one INSERT .. RETURNING per call, SQL built once per row count)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone

from accounts.models import Role, User
from audit.models import AuditLog
from core.compiled import CompiledInsert, CompiledRows, inserts_together
from notifications.models import NotificationPreference
from outbox.models import EventOutbox


def _channels_like(*ids):
    return (User.objects.filter(pk__in=ids, is_active=True)
            .values_list("id", "email", "is_staff", "notification_preference__sms_enabled"))


@pytest.mark.django_db
def test_rows_are_the_orm_rows_with_converted_values_in_one_statement(make_user, django_assert_num_queries):
    users = [make_user(Role.USER, username=f"r{i}", email=f"r{i}@example.com") for i in range(4)]
    NotificationPreference.objects.create(user=users[1], sms_enabled=False)
    query = CompiledRows(User, _channels_like, max_arity=3)
    for ids in ([users[0].pk], [users[1].pk, users[2].pk], [users[2].pk], [users[0].pk, users[1].pk]):
        with django_assert_num_queries(1):
            got = query.rows(*ids)
        assert sorted(got) == sorted(_channels_like(*ids))
        assert all(type(row[2]) is bool for row in got)  # the converter ran (SQLite answers 0/1)
    assert len(query.plans) == 2  # one plan per number of ids
    everyone = [u.pk for u in users]
    assert sorted(query.rows(*everyone)) == sorted(_channels_like(*everyone))  # past max_arity: the ORM
    assert len(query.plans) == 2 and query.rows() == []


@pytest.mark.django_db
def test_insert_writes_what_bulk_create_writes_and_sets_the_keys(make_user, django_assert_num_queries):
    actor = make_user(Role.ADMIN, username="ins")
    insert = CompiledInsert(EventOutbox)
    now = timezone.now()
    rows = [EventOutbox(channel="c", group=f"user.{i}", payload={"n": i, "at": now}, next_attempt_at=now)
            for i in range(3)]
    with django_assert_num_queries(1):
        assert insert.insert(rows) is rows
    assert [r.pk for r in rows] == sorted(r.pk for r in rows) and all(not r._state.adding for r in rows)
    stored = list(EventOutbox.objects.filter(pk__in=[r.pk for r in rows]).order_by("pk"))
    assert [(r.group, r.payload["n"], r.status, r.attempts) for r in stored] == [
        ("user.0", 0, "pending", 0), ("user.1", 1, "pending", 0), ("user.2", 2, "pending", 0)]
    assert all(abs(r.created_at - timezone.now()) < timedelta(minutes=1) for r in stored)  # auto_now_add
    audit = CompiledInsert(AuditLog).insert([AuditLog(action="a.b", entity_type="t", entity_id="1", user=actor,
                                                      metadata={"k": "v"}, ip_address="10.0.0.1")])[0]
    assert AuditLog.objects.get(pk=audit.pk).metadata == {"k": "v"}
    many = [EventOutbox(channel="c", group="g", payload={}, next_attempt_at=now) for _ in range(insert.max_rows + 1)]
    insert.insert(many)  # past max_rows: bulk_create
    assert all(r.pk for r in many)


@pytest.mark.django_db
def test_rows_take_a_text_value_and_an_aggregate_with_its_converter(make_user):
    from decimal import Decimal

    from wallet.services.refunds import _REF_TOTALS, _ref_totals_query
    from tests.wallet.helpers import charge, fund

    seller = make_user(Role.USER, username="tot")
    fund(seller, "50.00")
    charge(seller, "20.00", "fee-1")
    charge(seller, "5.50", "fee-1")
    charge(seller, "1.00", "fee-2")
    assert dict(_REF_TOTALS.rows(seller.pk, "fee-1")) == dict(_ref_totals_query(seller.pk, "fee-1")) == {
        "charge": Decimal("-25.50")}
    assert _REF_TOTALS.rows(seller.pk, "none") == []


@pytest.mark.django_db
def test_inserts_together_write_every_table_with_one_statement_and_set_the_keys(make_user, django_assert_num_queries):
    actor = make_user(Role.ADMIN, username="tog")
    now = timezone.now()
    outbox = [EventOutbox(channel="c", group=f"user.{i}", payload={"n": i, "at": now}, next_attempt_at=now)
              for i in range(30)]  # past the default max_rows of 16: this insert allows 40
    audit = AuditLog(action="a.b", entity_type="t", entity_id="1", user=actor, metadata={"k": "v"}, ip_address=None)
    outbox_insert, audit_insert = CompiledInsert(EventOutbox, max_rows=40), CompiledInsert(AuditLog)
    postgres = connection.vendor == "postgresql"
    # SQLite: each insert at once, as outside the block
    with django_assert_num_queries(1 if postgres else 3):
        with inserts_together():
            outbox_insert.insert(outbox[:20])
            audit_insert.insert([audit])
            outbox_insert.insert(outbox[20:])
            assert (audit.pk is None) == postgres  # queued until the block ends on PostgreSQL
    assert [r.pk for r in outbox] == sorted(r.pk for r in outbox) and all(not r._state.adding for r in outbox)
    stored = list(EventOutbox.objects.filter(pk__in=[r.pk for r in outbox]).order_by("pk"))
    assert [(r.group, r.payload["n"], r.status, r.attempts, r.sent_at) for r in stored] == [
        (f"user.{i}", i, "pending", 0, None) for i in range(30)]
    assert AuditLog.objects.get(pk=audit.pk).metadata == {"k": "v"}
    assert AuditLog.objects.get(pk=audit.pk).ip_address is None


@pytest.mark.django_db
def test_inserts_together_write_nothing_when_the_block_fails():
    now = timezone.now()
    with pytest.raises(RuntimeError), transaction.atomic(), inserts_together():
        CompiledInsert(EventOutbox).insert([EventOutbox(channel="c", group="g", payload={}, next_attempt_at=now)])
        raise RuntimeError("the block fails")
    assert EventOutbox.objects.count() == 0


@pytest.mark.postgres
@pytest.mark.django_db
def test_inserts_together_refuse_a_value_longer_than_its_column(make_user):
    now = timezone.now()
    actor = make_user(Role.ADMIN, username="long")
    with pytest.raises(DataError), transaction.atomic(), inserts_together():  # varchar(64): not cut short
        CompiledInsert(AuditLog).insert([AuditLog(action="x" * 65, entity_type="t", entity_id="1", user=actor)])
        CompiledInsert(EventOutbox).insert([EventOutbox(channel="c", group="g", payload={}, next_attempt_at=now)])
    assert AuditLog.objects.count() == 0 and EventOutbox.objects.count() == 0
