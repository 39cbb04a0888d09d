# dgt — the two front-door commands are `make run` and `make test` (see README.md).
# Embedded by default (SQLite, in-memory realtime, inline tasks); set DATABASE_URL and
# REDIS_URL to use PostgreSQL and Redis.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
export DEBUG ?= 1
# Websocket frames over 64 KB (WS_MAX_BYTES) are refused before they are buffered (docs/realtime.md).
DAPHNE_WS_LIMITS := --websocket-max-message-size 65536 --websocket-max-frame-size 65536

.PHONY: install run test bench migrate demo clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py setup_periodic_tasks

demo: migrate
	$(PY) manage.py demo_data

run: demo
ifneq ($(and $(DATABASE_URL),$(REDIS_URL)),)
	@echo "services mode: PostgreSQL + Redis; web (HTTP+websockets) on 127.0.0.1:$(PORT), Celery worker and beat"
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho start -f Procfile.dev -p $(PORT)
else
	@echo "embedded mode: SQLite, in-memory realtime, inline tasks; http://127.0.0.1:$(PORT)/admin/"
	$(VENV)/bin/daphne -b 127.0.0.1 -p $(PORT) $(DAPHNE_WS_LIMITS) dgt.asgi:application
endif

test: install
	DGT_TESTING=1 $(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks (services: PostgreSQL + Redis on 127.0.0.1, Node/npm, pgbench, redis-benchmark); each uses its
# own dgt_bench_* database and writes the table to docs/benchmarks.md. BENCH_ARGS="--only event_latency --profile"
bench: install
	$(PY) bench/run_all.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
