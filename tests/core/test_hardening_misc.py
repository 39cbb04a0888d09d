"""Hardening (docs/access-and-hardening.md): start-up without secrets, check --deploy, CORS/CSRF, masked logs,
append-only audit log, escaped user text in the admin."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client

from accounts import services as account_services
from audit.models import AuditLog, ImmutableError
from audit.services import audit_record
from core.logging import mask_pii

from ..listings.factories import ListingFactory

ROOT = Path(__file__).resolve().parents[2]
XSS = '<script>alert("x")</script>'


def _run(code_or_args, **env_over) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DGT_TESTING", "DEBUG", "SECRET_KEY", "JWT_SECRET", "DATABASE_URL", "REDIS_URL"}}
    env.update(env_over)
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# --- start-up and deploy checks -------------------------------------------------------------------

@pytest.mark.slow  # a Python process of its own
@pytest.mark.parametrize("missing", ["SECRET_KEY", "JWT_SECRET"])
def test_production_start_fails_clearly_without_a_secret(missing):
    env = {"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(60), "JWT_SECRET": secrets.token_urlsafe(40)}
    del env[missing]
    result = _run("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dgt.settings'); django.setup()",
                  **env)
    assert result.returncode != 0
    assert f"{missing} is not set. dgt refuses to start in production mode" in result.stderr


@pytest.mark.slow  # a Python process of its own
def test_production_start_with_secrets_works():
    result = _run("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dgt.settings'); django.setup();"
                  "from django.conf import settings; print(settings.DEBUG, settings.SESSION_COOKIE_SECURE)",
                  DEBUG="0", SECRET_KEY=secrets.token_urlsafe(60), JWT_SECRET=secrets.token_urlsafe(40))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False True"


@pytest.mark.slow  # a Python process of its own
def test_check_deploy_reports_nothing_in_production_mode():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], DEBUG="0",
                  SECRET_KEY=secrets.token_urlsafe(60), JWT_SECRET=secrets.token_urlsafe(40),
                  ALLOWED_HOSTS="dgt.example.com")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


# --- CORS and CSRF -------------------------------------------------------------------------------

def test_cors_allows_only_configured_origins(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    ok = client.options("/api/me", HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
                        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization")
    foreign = client.options("/api/me", HTTP_ORIGIN="https://evil.example.net", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert ok["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in ok["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in foreign


@pytest.mark.django_db
def test_csrf_is_enforced_on_the_admin_login(admin_user):
    response = Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "admin", "password": "x"})
    assert response.status_code == 403


# --- logs ------------------------------------------------------------------------------------------

@pytest.mark.slow  # a Python process of its own
def test_a_log_line_with_email_phone_and_bearer_token_comes_out_masked():
    """The real LOGGING config, in a fresh process, writing to stderr."""
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    code = ("import django, logging, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dgt.settings'); django.setup();"
            "log = logging.getLogger('dgt.test');"
            "log.warning('login failed for %s phone %s header Authorization: Bearer %s', "
            f"'asha.k@example.com', '+91 98765 43210', '{token}');"
            "log.warning('sms to 9876543210 with otp=123456 and refresh token sk_live_abcdefgh12345678');"
            "\ntry:\n    raise ValueError('bad email ravi@example.org')\nexcept ValueError:\n    log.exception('boom')")
    result = _run(code, DEBUG="1")
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "asha.k@example.com" not in err and "a***@example.com" in err
    assert "98765 43210" not in err and "+** ***** ***10" in err
    assert token not in err and "eyJ" not in err
    assert "Authorization: [redacted]" in err
    assert "9876543210" not in err and "********10" in err
    assert "123456" not in err and "otp=[redacted]" in err
    assert "sk_live_abcdefgh12345678" not in err
    assert "ravi@example.org" not in err and "r***@example.org" in err


@pytest.mark.parametrize("raw, masked", [
    ("GET /api/listings/1764400000 took 42000.00 ms", "GET /api/listings/1764400000 took 42000.00 ms"),
    ("headers={'Authorization': 'Bearer abc.def.ghi'}", "headers={'Authorization': '[redacted]'}"),
    ('{"password": "hunter2", "username": "seller"}', '{"password": "[redacted]", "username": "seller"}'),
    ("call +1 (415) 555-0100 now", "call +* (***) ***-**00 now"),
])
def test_mask_pii_cases(raw, masked):
    assert mask_pii(raw) == masked


# --- audit log is append-only ---------------------------------------------------------------------

@pytest.mark.django_db
def test_audit_rows_cannot_be_changed_or_deleted_through_the_app(admin_user):
    row = audit_record(action="x.test", entity_type="x", entity_id=1, user=admin_user, reason="r")
    row.reason = "edited"
    with pytest.raises(ImmutableError):
        row.save()
    with pytest.raises(ImmutableError):
        row.delete()
    with pytest.raises(ImmutableError):
        AuditLog.objects.filter(pk=row.pk).update(reason="edited")
    with pytest.raises(ImmutableError):
        AuditLog.objects.filter(pk=row.pk).delete()
    assert AuditLog.objects.get(pk=row.pk).reason == "r"


@pytest.mark.django_db
def test_audit_rows_cannot_be_changed_in_the_admin(client, admin_user):
    row = audit_record(action="x.test", entity_type="x", entity_id=1, user=admin_user, reason="r")
    client.force_login(admin_user)
    assert client.get("/admin/audit/auditlog/add/").status_code == 403
    assert client.post(f"/admin/audit/auditlog/{row.pk}/change/", {"reason": "edited"}).status_code == 403
    assert client.post(f"/admin/audit/auditlog/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post("/admin/audit/auditlog/", {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    assert AuditLog.objects.get(pk=row.pk).reason == "r"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_trigger_rejects_update_and_delete_from_any_client(admin_user):
    row = audit_record(action="x.test", entity_type="x", entity_id=1, user=admin_user, reason="r")
    for sql in ("UPDATE audit_auditlog SET reason = 'edited' WHERE id = %s", "DELETE FROM audit_auditlog WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, [row.pk])
    with connection.cursor() as cursor:
        cursor.execute("SELECT reason FROM audit_auditlog WHERE id = %s", [row.pk])
        assert cursor.fetchone() == ("r",)


# --- user text is escaped in the admin -------------------------------------------------------------

@pytest.mark.django_db
def test_user_text_is_escaped_in_admin_pages(client, admin_user, seller):
    listing = ListingFactory(owner=seller, title=XSS, description=XSS)
    account_services.user_block(user_id=seller.pk, actor=admin_user, reason=XSS)
    row = audit_record(action="x.test", entity_type="listing", entity_id=listing.pk, user=admin_user, reason=XSS,
                       metadata={"userAgent": XSS})
    client.force_login(admin_user)
    pages = ["/admin/listings/listing/", f"/admin/listings/listing/{listing.pk}/change/",
             "/admin/accounts/user/", f"/admin/accounts/user/{seller.pk}/change/",
             "/admin/audit/auditlog/", f"/admin/audit/auditlog/{row.pk}/change/"]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        body = response.content.decode()
        assert XSS not in body, page
        assert "&lt;script&gt;" in body, page
