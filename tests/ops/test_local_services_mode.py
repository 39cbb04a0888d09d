"""The README's services mode as written: with only DATABASE_URL and REDIS_URL exported (on this
machine), manage.py commands work, DEBUG stays off as the settings mean, and `make run` does not
turn it on behind the user's back."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # every test runs manage.py, python or make

ROOT = Path(__file__).resolve().parent.parent.parent
LOCAL = {"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/dgt_readme", "REDIS_URL": "redis://127.0.0.1:6379/0"}
SHOW = ("import django, hashlib; django.setup(); from django.conf import settings as s; "
        "print(s.DEBUG, hashlib.sha256(s.SECRET_KEY.encode()).hexdigest()[:12], "
        "hashlib.sha256(s.JWT_SECRET.encode()).hexdigest()[:12], s.SECRET_KEY.startswith('dev-insecure'))")


def _env(**extra):
    keep = {k: v for k, v in os.environ.items()
            if k not in {"DGT_TESTING", "DEBUG", "SECRET_KEY", "JWT_SECRET", "DATABASE_URL", "REDIS_URL"}}
    return {**keep, "DJANGO_SETTINGS_MODULE": "dgt.settings", **extra}


def _run(args, **env):
    return subprocess.run(args, cwd=ROOT, env=_env(**env), capture_output=True, text=True, timeout=120)


def test_manage_py_works_with_only_the_two_service_urls_and_debug_stays_off():
    check = _run([sys.executable, "manage.py", "check"], **LOCAL)
    assert check.returncode == 0, check.stderr
    first = _run([sys.executable, "-c", SHOW], **LOCAL)
    second = _run([sys.executable, "-c", SHOW], **LOCAL)
    assert first.returncode == 0, first.stderr
    debug, secret, jwt_secret, dev_default = first.stdout.split()
    assert (debug, dev_default) == ("False", "False")  # a generated secret, not the known dev one
    assert second.stdout == first.stdout  # every process of the checkout agrees (web, worker, demo tokens)
    assert secret != jwt_secret
    assert oct((ROOT / "var" / "secrets" / "SECRET_KEY").stat().st_mode & 0o777) == "0o600"


def test_services_elsewhere_still_need_their_secrets():
    result = _run([sys.executable, "manage.py", "check"], DATABASE_URL="postgres://dgt@db.internal:5432/dgt",
                  REDIS_URL="redis://cache.internal:6379/0")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_make_run_does_not_turn_debug_on_in_services_mode():
    dry = _run(["make", "--no-print-directory", "-n", "run", "PORT=19719"], **LOCAL)
    assert dry.returncode == 0, dry.stderr
    assert "honcho start" in dry.stdout  # the services branch
    assert "DEBUG" not in dry.stdout
    makefile = (ROOT / "Makefile").read_text()
    assert not re.search(r"^\s*(export\s+)?DEBUG\s*[:?+!]?=|DEBUG=1", makefile, re.MULTILINE)
