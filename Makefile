# dgt — the two front-door commands are `make run` and `make test` (see README.md).
# Embedded by default (SQLite, in-memory realtime, inline tasks); set DATABASE_URL and
# REDIS_URL to use PostgreSQL and Redis. DEBUG is left to the settings (on embedded, off with
# services); export DEBUG yourself for debug pages with services.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
UV     := $(VENV)/bin/uv
UV_VERSION := 0.13.8
PORT   ?= 8000
SERVICES := $(and $(DATABASE_URL),$(REDIS_URL))
# Websocket frames over 64 KB (WS_MAX_BYTES) are refused before they are buffered (docs/realtime.md).
DAPHNE_WS_LIMITS := --websocket-max-message-size 65536 --websocket-max-frame-size 65536

.PHONY: install install-runtime run test bench migrate demo clean

# uv (installed into the venv by pip, once) installs the requirements in parallel from its cache:
# a fresh clone reaches its first request in seconds instead of a minute (docs/benchmarks.md).
$(UV):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check uv==$(UV_VERSION)

# Packages are installed with their bytecode compiled (uv does not compile by default, and where
# PYTHONDONTWRITEBYTECODE is set nothing ever writes it): otherwise every process start compiles
# Django, Channels, Celery and the rest from source, 2.5 s of the ws process's 3.7 s import, paid
# by every worker, server and test subprocess (docs/benchmarks.md, "Process start").
UV_INSTALL := $(UV) pip install -q --compile-bytecode --python $(PY)

# What running needs (requirements.txt): the `make run` path.
$(VENV)/.runtime: requirements.txt | $(UV)
	$(UV_INSTALL) -r requirements.txt
	touch $@

# Everything, with the test and bench tools (requirements-dev.txt): `make test`, `make bench`.
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(UV)
	$(UV_INSTALL) -r requirements-dev.txt
	touch $(VENV)/.runtime $@

install-runtime: $(VENV)/.runtime
install: $(VENV)/.installed

migrate: install-runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_periodic_tasks

demo: install-runtime
	$(PY) manage.py demo_data --migrate

# `make run` serves plain HTTP on 127.0.0.1: the HTTPS redirect, HSTS and secure-only cookies that
# DEBUG off turns on (services mode) are switched off for it, out loud, here and nowhere else.
run: export SECURE_SSL_REDIRECT ?= 0
run: export SECURE_HSTS_SECONDS ?= 0
run: export SESSION_COOKIE_SECURE ?= 0
run: export CSRF_COOKIE_SECURE ?= 0
run: export PORT := $(PORT)
run: demo
ifneq ($(SERVICES),)
	@echo "services mode: PostgreSQL + Redis; web (HTTP+websockets) on 127.0.0.1:$(PORT), Celery worker and beat"
	@echo "plain HTTP on loopback: SECURE_SSL_REDIRECT=$$SECURE_SSL_REDIRECT SESSION_COOKIE_SECURE=$$SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE=$$CSRF_COOKIE_SECURE"
	$(PY) manage.py collectstatic --noinput -v 0
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile.dev -p $(PORT)
else
	@echo "embedded mode: SQLite, in-memory realtime, inline tasks; http://127.0.0.1:$(PORT)/admin/"
	$(VENV)/bin/daphne -v 0 -b 127.0.0.1 -p $(PORT) $(DAPHNE_WS_LIMITS) dgt.asgi:application
endif

test: install
	DGT_TESTING=1 $(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks (services: PostgreSQL + Redis on 127.0.0.1, Node/npm, pgbench, redis-benchmark); each uses its
# own dgt_bench_* database and writes the table to docs/benchmarks.md. BENCH_ARGS="--only event_latency --profile"
bench: install
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
