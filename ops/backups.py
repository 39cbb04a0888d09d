"""Database backups with django-dbbackup (the daily `database_backup` job) and their restore.

Storage: STORAGES["dbbackup"] — BACKUP_DIR on local disk by default, S3 through django-storages
when AWS_S3_BUCKET and the keys are set (settings.py). Backups are gzip-compressed; the newest
DBBACKUP_CLEANUP_KEEP (BACKUP_KEEP, default 14) are kept.

PostgreSQL: pg_dump --format=custom, restored with pg_restore --clean in one transaction
(django-dbbackup's PgDumpBinaryConnector). SQLite: the SQLite online backup API both ways
(`SqliteOnlineConnector`), safe while the database is open and in WAL mode.

Restore (stops nothing by itself: stop web, worker and beat first):
    python manage.py dbrestore --noinput --uncompress -i <file name from the backup job>
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
from shutil import copyfileobj

from dbbackup.db.sqlite import SqliteBackupConnector
from dbbackup.storage import get_storage
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.db import connection


class SqliteOnlineConnector(SqliteBackupConnector):
    """dbbackup's SQLite connector with a restore through the online backup API.

    The stock restore writes the dump over the database file, which corrupts a database in WAL
    mode that has open connections (the -wal file survives) and fails for an in-memory one.
    """

    def restore_dump(self, dump):
        self.connection.ensure_connection()
        fd, path = tempfile.mkstemp(suffix=".sqlite3")
        try:
            with os.fdopen(fd, "wb") as out:
                copyfileobj(dump, out)
            source = sqlite3.connect(path)
            try:
                source.backup(self.connection.connection)
            finally:
                source.close()
        finally:
            os.remove(path)


def database_backup() -> dict:
    """Back up the default database to the dbbackup storage, then delete backups beyond
    DBBACKUP_CLEANUP_KEEP. Returns {"file": name in the storage, "bytes": size, "vendor",
    "storage": storage class name, "kept": backups now stored}. Raises on any failure (the task
    then fails and shows as failed in /api/admin/queues)."""
    storage = get_storage()
    if isinstance(storage.storage, FileSystemStorage):  # a fresh BACKUP_DIR: create it
        os.makedirs(storage.storage.location, exist_ok=True)
    before = set(storage.list_backups(content_type="db"))
    call_command("dbbackup", "--noinput", "--compress", "--clean", "--quiet", "--database", "default")
    backups = storage.list_backups(content_type="db")
    new = sorted(set(backups) - before)
    if len(new) != 1:
        raise RuntimeError(f"dbbackup wrote {len(new)} new backup files, expected 1: {new}")
    name = new[0]
    return {"file": name, "bytes": storage.storage.size(name), "vendor": connection.vendor,
            "storage": type(storage.storage).__name__, "kept": len(backups)}


def database_restore(*, filename: str) -> None:
    """Restore the default database from `filename` (as returned by database_backup), replacing
    its contents. Callers must stop writers first; connections of this process are closed."""
    connection.close()
    call_command("dbrestore", "--noinput", "--uncompress", "--quiet", "--database", "default",
                 "--input-filename", filename)
    connection.close()
