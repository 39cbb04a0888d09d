"""Logs that help at 3 a.m.: one line per event at the right level, UTC with its zone and the
request id on every line (core.logging, core.middleware; docs/access-and-hardening.md "Logs")."""
from __future__ import annotations

import logging
import re
import time

import pytest
from django.core import mail
from django.core.mail import EmailMessage

from core.context import request_context
from core.logging import UtcFormatter

pytestmark = pytest.mark.django_db

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\w+) ([\w.]+) \[([^\]]+)\] (.*)$")


def _records_about(caplog, path):
    return [r for r in caplog.records if path in r.getMessage()]


def test_a_4xx_is_logged_once_at_warning_with_its_code(api_for, seller, caplog):
    caplog.set_level(logging.DEBUG)
    response = api_for(seller).post("/api/listings", {"title": ""}, format="json", HTTP_X_REQUEST_ID="req-4xx-1")
    assert response.status_code == 400
    records = _records_about(caplog, "/api/listings")
    assert [(r.name, r.levelname) for r in records] == [("dgt.access", "WARNING")]
    assert records[0].getMessage().startswith("POST /api/listings 400 invalid ")
    assert "req-4xx-1" in UtcFormatter().format(records[0])


def test_a_moderator_on_an_admin_page_they_may_not_see_logs_one_line_without_traceback(client, moderator, caplog):
    caplog.set_level(logging.DEBUG)
    client.force_login(moderator)
    response = client.get("/admin/analytics/analyticsdeadletter/")
    assert response.status_code == 403
    records = _records_about(caplog, "/admin/analytics/analyticsdeadletter/")
    assert [(r.name, r.levelname) for r in records] == [("dgt.access", "WARNING")]
    assert all(r.exc_info is None and not r.exc_text for r in caplog.records)


def test_a_success_is_one_info_line(api_for, seller, caplog):
    caplog.set_level(logging.DEBUG)
    assert api_for(seller).get("/api/me").status_code == 200
    assert [(r.name, r.levelname) for r in _records_about(caplog, "/api/me")] == [("dgt.access", "INFO")]


def test_every_line_is_utc_with_zone_and_the_request_id(settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # the process's local zone follows TIME_ZONE
    record = logging.LogRecord("dgt.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    with request_context("req-abc", "127.0.0.1"):
        line = UtcFormatter().format(record)
    when, level, name, request_id, message = LINE.match(line).groups()
    assert (level, name, request_id, message) == ("INFO", "dgt.test", "req-abc", "hello world")
    assert when == time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
    outside = logging.LogRecord("dgt.test", logging.INFO, __file__, 1, "x", None, None)
    assert LINE.match(UtcFormatter().format(outside)).group(4) == "-"


def test_the_configured_handler_writes_that_format():
    formatters = {type(h.formatter) for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)
                  and h.formatter is not None}
    assert UtcFormatter in formatters
    assert logging.getLogger("django").handlers == []  # no second console handler for django.*


def test_the_development_email_backend_logs_one_info_line(settings, caplog):
    settings.EMAIL_BACKEND = "notifications.providers.email_log.LogEmailBackend"
    caplog.set_level(logging.DEBUG)
    EmailMessage(subject="Your listing expires soon", body="Hello,\n\nIt expires tomorrow.", to=["asha@example.com"]
                 ).send()
    records = [r for r in caplog.records if r.name == "dgt.notifications"]
    assert [r.levelname for r in records] == ["INFO"]
    assert "Your listing expires soon" in records[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert mail.outbox == []  # nothing was handed to another backend


def test_uvicorn_logs_no_line_per_accepted_websocket_but_keeps_rejections_and_warnings(caplog):
    """A reconnect storm would write one line per socket on the loop accepting the next one
    (core.logging.DropWebsocketAccepts; docs/operations.md "Logs")."""
    caplog.set_level(logging.DEBUG)
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.info('%s - "WebSocket %s" [accepted]', "127.0.0.1:50000", "/ws/events/")
    uvicorn_log.info("connection open")
    uvicorn_log.info("connection closed")
    uvicorn_log.info('%s - "WebSocket %s" 403', "127.0.0.1:50001", "/ws/events/")
    uvicorn_log.warning("Invalid HTTP request received.")
    uvicorn_log.info("Uvicorn running on %s", "http://127.0.0.1:8001")
    assert [r.getMessage() for r in caplog.records if r.name == "uvicorn.error"] == [
        '127.0.0.1:50001 - "WebSocket /ws/events/" 403',
        "Invalid HTTP request received.",
        "Uvicorn running on http://127.0.0.1:8001",
    ]
