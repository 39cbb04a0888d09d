"""core.db.ReplicaRouter's rules, without a real replica (tests/core/test_replica.py has one)."""
from __future__ import annotations

import contextlib
import copy

import pytest
from django.db import connections, transaction

from core.db import REPLICA, ReplicaRouter, lag_tolerant, lag_tolerant_reads, read_alias


@pytest.fixture
def replica_configured(monkeypatch):
    monkeypatch.setitem(connections.settings, REPLICA, copy.deepcopy(connections.settings["default"]))
    yield
    with contextlib.suppress(AttributeError, KeyError):  # no wrapper outlives the alias
        connections[REPLICA].close()
        del connections[REPLICA]


def test_without_a_replica_every_read_goes_to_the_primary():
    with lag_tolerant_reads():
        assert read_alias() == "default"


def test_only_lag_tolerant_reads_outside_a_transaction_go_to_the_replica(replica_configured, transactional_db):
    router = ReplicaRouter()
    assert router.db_for_read(None) == "default"
    with lag_tolerant_reads():
        assert router.db_for_read(None) == REPLICA
        with transaction.atomic():
            assert router.db_for_read(None) == "default"
        assert router.db_for_read(None) == REPLICA
    assert router.db_for_read(None) == "default"
    assert lag_tolerant(read_alias)() == REPLICA
    assert router.db_for_write(None) == "default"


def test_nothing_migrates_the_replica():
    router = ReplicaRouter()
    assert router.allow_migrate(REPLICA, "listings") is False
    assert router.allow_migrate("default", "listings") is True
