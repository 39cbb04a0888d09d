"""The daily backup restores to the same rows: back up, empty the database, restore, compare."""
import os
import subprocess
import sys
from datetime import datetime, timezone as dt_timezone

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command, get_commands
from django.db import connection

from analytics.models import AnalyticsEvent
from listings import services as listing_services
from listings.models import Listing, SearchDocument

from ..listings.factories import ListingFactory

pytestmark = pytest.mark.slow


def row_counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.managed and not m._meta.proxy}


@pytest.fixture
def backup_dir(tmp_path, monkeypatch):
    import dbbackup.settings

    monkeypatch.setattr(dbbackup.settings, "STORAGE", "django.core.files.storage.FileSystemStorage")
    monkeypatch.setattr(dbbackup.settings, "STORAGE_OPTIONS", {"location": str(tmp_path)})
    return tmp_path


@pytest.mark.django_db(transaction=True)
def test_backup_empty_restore_same_rows(backup_dir, seller, buyer, moderator, django_capture_on_commit_callbacks):
    # given rows in several apps, including a search document (a tsvector on PostgreSQL)
    listings = [ListingFactory(owner=seller, title=f"Item {i} with a 'quote'") for i in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        listing_services.listing_approve(listing_id=listings[0].pk, actor=moderator)
    AnalyticsEvent.objects.create(batch_id="6f1c9d0e-8d62-4f55-9d7e-3f0c2f1f9a01", seq=0, user=buyer, name="x",
                                  ts="2026-11-29T10:00:00Z", properties={"k": "é"}, received_at="2026-11-29T10:00:01Z")
    before = row_counts()
    assert before["listings.Listing"] == 5 and before["listings.SearchDocument"] == 1

    # when the backup job runs (as beat or `runjob database_backup` would run it)
    from ops.tasks import database_backup_run

    result = database_backup_run.apply().get()
    assert result["file"] in os.listdir(backup_dir) and result["bytes"] > 0
    assert result["vendor"] == connection.vendor and result["kept"] == 1

    # and the database is emptied
    call_command("flush", "--noinput")
    assert Listing.objects.count() == 0

    # then a restore brings every row back
    from ops.backups import database_restore

    database_restore(filename=result["file"])
    assert row_counts() == before
    assert Listing.objects.get(pk=listings[0].pk).title == "Item 0 with a 'quote'"
    assert AnalyticsEvent.objects.get().properties == {"k": "é"}
    assert SearchDocument.objects.get().listing_id == listings[0].pk
    if "ledger_check" in get_commands():  # once the wallet exists, its books must balance too
        call_command("ledger_check")


@pytest.mark.django_db(transaction=True)
def test_old_backups_are_cleaned(backup_dir, settings, monkeypatch):
    import dbbackup.settings

    monkeypatch.setattr(dbbackup.settings, "CLEANUP_KEEP", 2)
    from ops.backups import database_backup

    names = []
    for day in range(4):  # four nightly runs
        with time_machine.travel(datetime(2026, 11, 1 + day, 21, 30, tzinfo=dt_timezone.utc), tick=False):
            result = database_backup()
        names.append(result["file"])
        assert result["kept"] == min(day + 1, 2)
    kept = sorted(f for f in os.listdir(backup_dir) if not f.endswith(".metadata"))
    assert kept == sorted(names[-2:])


def test_s3_storage_when_bucket_and_keys_are_set():
    script = ("import django; django.setup()\n"
              "from dbbackup.storage import get_storage\n"
              "s = get_storage().storage\n"
              "print(type(s).__name__, getattr(s, 'bucket_name', '-'), s.location)\n")
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update(DJANGO_SETTINGS_MODULE="dgt.settings", DEBUG="1")
    with_s3 = {**base, "AWS_S3_BUCKET": "dgt-backups-test", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
               "AWS_SECRET_ACCESS_KEY": "secret"}
    run = lambda env: subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,  # noqa: E731
                                     timeout=120, cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    out = run(with_s3)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["S3Storage", "dgt-backups-test", "dgt-backups"]
    out = run({**with_s3, "AWS_SECRET_ACCESS_KEY": ""})  # keys missing: local folder
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["FileSystemStorage", "-"]
