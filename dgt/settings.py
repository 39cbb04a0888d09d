"""dgt settings, read from the environment (django-environ).

Two modes, chosen by the environment alone:

* embedded — no DATABASE_URL and no REDIS_URL: SQLite file under var/, in-memory channel layer,
  LocMem cache, Celery tasks run inline. This is what `make run` and `make test` use on a fresh
  machine.
* services — DATABASE_URL=postgres://... and REDIS_URL=redis://...: PostgreSQL (psycopg 3),
  channels-redis, a Redis cache shared by every process (rate limits) and a real Celery worker.

DEBUG defaults on in embedded mode and off in services mode. With DEBUG off, SECRET_KEY and
JWT_SECRET have no defaults and start-up stops with a clear message when they are missing, except
with services on this machine (loopback DATABASE_URL and REDIS_URL, the README's local services
mode), where each is generated once into var/secrets/. Every variable is listed in .env.example.
"""
from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import environ
from corsheaders.defaults import default_headers
from django.core.exceptions import ImproperlyConfigured

# --- environment, mode, secrets -------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Embedded mode (no DATABASE_URL, no REDIS_URL) is for development: DEBUG defaults on there, so
# `manage.py` commands work on a fresh clone. With the services configured it defaults off.
# The test suite (DGT_TESTING, `make test`) runs with DEBUG on in both modes, as it always did.
TESTING = env.bool("DGT_TESTING", default=False)
DEBUG = env.bool("DEBUG", default=TESTING or (not env.str("DATABASE_URL", default="")
                                              and not env.str("REDIS_URL", default="")))


def _loopback(url: str) -> bool:
    """Whether a service URL points at this machine (loopback address, or a unix socket)."""
    host = urlsplit(url).hostname
    if not host or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Services on this machine (the README's local services mode): DEBUG stays off, as in production,
# but a missing secret is generated once into var/secrets/ instead of stopping every manage.py
# command. Services elsewhere (a deployment) must be given their secrets.
LOCAL_SERVICES = bool(env.str("DATABASE_URL", default="") and env.str("REDIS_URL", default="")) \
    and _loopback(env.str("DATABASE_URL")) and _loopback(env.str("REDIS_URL"))


def _local_secret(name: str) -> str:
    """A random secret kept in var/secrets/<name> (0600), created on first use: the same for every
    process of this checkout (web, worker, demo tokens), unknown to anyone else."""
    path = VAR_DIR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(64))
        except FileExistsError:  # another process of this checkout wrote it first
            pass
    return path.read_text().strip()


def _secret(name: str, dev_default: str) -> str:
    """A secret from the environment; a development default when DEBUG is on; a generated one
    kept in var/secrets/ for services on this machine; else ImproperlyConfigured."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG or TESTING:
        return dev_default
    if LOCAL_SERVICES:
        return _local_secret(name)
    raise ImproperlyConfigured(
        f"{name} is not set. dgt refuses to start in production mode (DEBUG off) without it; "
        f"set {name} in the environment (see .env.example), or DEBUG=1 for local development."
    )


SECRET_KEY = _secret("SECRET_KEY", "dev-insecure-secret-key-do-not-use-in-production-0123456789")
JWT_SECRET = _secret("JWT_SECRET", "dev-insecure-jwt-secret-do-not-use-in-production-0123")

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
CHANNEL_PREFIX = env.str("CHANNEL_PREFIX", default="dgt")
EMBEDDED = not DATABASE_URL and not REDIS_URL
SERVICES = bool(DATABASE_URL and REDIS_URL)

# --- apps, middleware, URLs, templates ------------------------------------------------------
# "daphne" is deliberately not an app: `make run` and the tests start daphne's server themselves;
# as an app (only there to take over `runserver`) it imported Twisted into every manage.py command,
# Celery process and gunicorn worker: ~1 s of CPU each (docs/benchmarks.md, first run).
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt",
    # Refresh tokens are recorded (OutstandingToken) so a block can blacklist them (accounts.services).
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "channels",
    "django_celery_beat",
    "django_celery_results",
    "dbbackup",
    "django_prometheus",
    # dgt, bottom layer first (docs/architecture.md).
    "core",
    "audit",
    "outbox",
    "accounts",
    "notifications",
    "listings",
    "wallet",
    "banners",
    "analytics",
    "realtime",
    "ops",
]

MIDDLEWARE = [
    # django-prometheus times every request: its "before" middleware must run first, "after" last
    # (core.prometheus: the same metrics, labelled children kept per process).
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.RequestContextMiddleware",
    "core.api.timezone.ApiUtcMiddleware",
    "core.api.text.QueryTextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Sessions, the session's user and messages: Django's, skipped on /api/ (JWT only; core.browser).
    # CSRF stays Django's own everywhere (`check --deploy` looks for it; DRF views are exempt).
    "core.browser.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.browser.AuthenticationMiddleware",
    "core.browser.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.prometheus.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "dgt.urls"
WSGI_APPLICATION = "dgt.wsgi.application"
ASGI_APPLICATION = "dgt.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # core's admin templates come before django.contrib.admin's: base_site.html (branding, docs/moderation.md).
        "DIRS": [BASE_DIR / "core" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
# Connections (docs/operations.md): DB_POOL_MAX_SIZE > 0 gives each process a bounded psycopg pool
# (Django's OPTIONS pool): a request takes a connection and gives it back, no set-up and no
# health-check query per request. The Procfile's web line sets it (gunicorn workers are forked
# before the first query). Without it CONN_MAX_AGE (DB_CONN_MAX_AGE, 0 under ASGI with sync views:
# one leaked connection per thread otherwise) with a health check on reuse.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
DB_POOL_MIN_SIZE = env.int("DB_POOL_MIN_SIZE", default=1)
DB_POOL_TIMEOUT_SECONDS = env.float("DB_POOL_TIMEOUT_SECONDS", default=10.0)
# A pooled connection taken by a process's main thread (each gunicorn sync worker serves every request
# there) is kept across requests this long, then given back (core.pools); 0 gives it back after each.
DB_POOL_HOLD_SECONDS = env.float("DB_POOL_HOLD_SECONDS", default=60.0)
# Lag-tolerant reads (search, public banner feed, admin list pages and counts) go to this streaming
# replica through core.db.ReplicaRouter; everything else stays on the primary.
DATABASE_REPLICA_URL = env.str("DATABASE_REPLICA_URL", default="")


def _postgres_connection(config: dict) -> dict:
    if DB_POOL_MAX_SIZE > 0:
        config["CONN_MAX_AGE"] = 0  # Django requires it with a pool: "closing" returns to the pool
        config["CONN_HEALTH_CHECKS"] = False
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(DB_POOL_MIN_SIZE, DB_POOL_MAX_SIZE), "max_size": DB_POOL_MAX_SIZE,
            "timeout": DB_POOL_TIMEOUT_SECONDS, "max_idle": 300, "max_lifetime": 1800,
        }
    else:
        config["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
        config["CONN_HEALTH_CHECKS"] = True
    return config


if DATABASE_URL:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        _postgres_connection(DATABASES["default"])
        if DATABASE_REPLICA_URL:
            # In the test suite the replica mirrors the test database unless a test points it at
            # a real standby (tests/core/test_replica.py).
            DATABASES["replica"] = _postgres_connection(env.db_url("DATABASE_REPLICA_URL")) | {
                "TEST": {"MIRROR": "default"}}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(VAR_DIR / "dgt.sqlite3")),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASE_ROUTERS = ["core.db.ReplicaRouter"]

# --- Redis on the request path (docs/operations.md "Faults on the request path") ------------
# Every client that a request uses (cache, channel layer publish, Celery broker) gives up on a
# dead or hung Redis within these bounds; after a failure the process skips that client for
# REDIS_BREAKER_OPEN_SECONDS (core.breaker) and the outbox relay catches up what was skipped.
REDIS_CONNECT_TIMEOUT_SECONDS = env.float("REDIS_CONNECT_TIMEOUT_SECONDS", default=0.5)
REDIS_SOCKET_TIMEOUT_SECONDS = env.float("REDIS_SOCKET_TIMEOUT_SECONDS", default=1.0)
REDIS_BREAKER_OPEN_SECONDS = env.float("REDIS_BREAKER_OPEN_SECONDS", default=0.0 if TESTING else 2.0)
# Retry-After (seconds) of the 503 answered while PostgreSQL or a required Redis is unreachable.
SERVICE_UNAVAILABLE_RETRY_AFTER = env.int("SERVICE_UNAVAILABLE_RETRY_AFTER", default=5)

# --- cache ----------------------------------------------------------------------------------
if REDIS_URL:
    # core.cache.RedisCache: Django's, with one redis client per connection pool instead of one per call.
    CACHES = {"default": {"BACKEND": "core.cache.RedisCache", "LOCATION": REDIS_URL,
                          "OPTIONS": {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                                      "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS}}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- channel layer (realtime) ---------------------------------------------------------------
# Per-socket buffer of the channel layer. A slow socket beyond it loses live frames (counted in
# outbox.transport.DROPS and logged) and recovers them with resume. Expiry: in-memory layer only.
CHANNEL_CAPACITY = env.int("CHANNEL_CAPACITY", default=1000)
CHANNEL_EXPIRY_SECONDS = env.int("CHANNEL_EXPIRY_SECONDS", default=60)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "outbox.transport.CountingRedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": CHANNEL_PREFIX, "capacity": CHANNEL_CAPACITY},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "outbox.transport.CountingInMemoryChannelLayer",
                                  "CONFIG": {"capacity": CHANNEL_CAPACITY, "expiry": CHANNEL_EXPIRY_SECONDS}}}

# --- Celery ---------------------------------------------------------------------------------
# The Celery queues: routed to below, watched by ops.monitoring and the dashboard (ops.stats).
QUEUES = ["default", "notifications", "search", "analytics"]
# "memory://localhost//": kombu logs "No hostname was supplied" for a bare "memory://".
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost//")
# django-celery-results' table, written by core.results: a state the worker cannot write while
# PostgreSQL restarts is retried on a new connection (about 7 s at most, jittered), then dropped
# with a warning instead of stopping the worker (docs/operations.md).
CELERY_RESULT_BACKEND = "core.results:DatabaseBackend"
CELERY_RESULT_BACKEND_ALWAYS_RETRY = True
CELERY_RESULT_BACKEND_MAX_RETRIES = 5
CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS = 200
CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS = 2000
CELERY_RESULT_EXTENDED = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # worker and beat log through LOGGING, not Celery's format
# Tasks marked ignore_result (the notification sends) still record their failures.
CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED = True
# Inline in embedded mode and in the test suite (the end-to-end test runs a real worker).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL or TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup would close the worker's database connections around every task (a new
# PostgreSQL connection per task, whatever DB_CONN_MAX_AGE says); core.worker applies Django's
# CONN_MAX_AGE rule between tasks instead (docs/operations.md, "The worker's database connections").
CELERY_DB_REUSE_MAX = 2**62
CELERY_TASK_DEFAULT_QUEUE = QUEUES[0]
CELERY_TASK_ROUTES = {
    "notifications.tasks.*": {"queue": QUEUES[1]},
    "listings.tasks.search_*": {"queue": QUEUES[2]},
    "analytics.tasks.*": {"queue": QUEUES[3]},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Asia/Kolkata"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing never retries and never waits long: a request's follow-ups are rows (outbox.followups)
# that the relay dispatches again, so a dead or hung broker costs a request at most these timeouts.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = REDIS_CONNECT_TIMEOUT_SECONDS
CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": REDIS_CONNECT_TIMEOUT_SECONDS,
                                   "socket_timeout": max(REDIS_SOCKET_TIMEOUT_SECONDS, 2.0),
                                   }

# --- auth, DRF, JWT -------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# A blocked user's Django session (admin, websocket session auth) stops working at once.
AUTHENTICATION_BACKENDS = ["accounts.backends.BlockAwareModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
if TESTING:  # hashing cost is not what the suite tests
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["core.api.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.JSONParser"],
    # DRF's negotiation, with the plain JSON requests' answer worked out once (core.api.negotiation).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.api.negotiation.ApiContentNegotiation",
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": True,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SECRET,
    "LEEWAY": env.int("JWT_LEEWAY_SECONDS", default=0),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.AccessToken",),
    "TOKEN_OBTAIN_SERIALIZER": "accounts.serializers.TokenObtainSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.serializers.TokenRefreshSerializerDB",
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "dgt back office API",
    "DESCRIPTION": "Listings moderation, wallet, banners, audit and live events of the dgt marketplace.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files (no CDN; works offline, version pinned).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Rate limits (django-ratelimit through core.api.ratelimit): name -> "count/period", env-overridable
# as RATELIMIT_<NAME upper>. Counted in the default cache: Redis in services mode, so every
# gunicorn worker and every process shares one counter.
RATELIMIT_RATES = {
    name: env.str(f"RATELIMIT_{name.upper()}", default=default)
    for name, default in {
        "token_ip": "30/m",  # POST /api/auth/token per client IP
        "token_username": "10/m",  # POST /api/auth/token per username tried
        "token_refresh": "30/m",  # POST /api/auth/token/refresh per client IP
        "user_block": "30/m",  # block / unblock / role per admin
        "wallet_refund": "120/m",  # POST /api/wallet/refund per admin (replays count too)
        "wallet_payout": "10/m",  # POST /api/wallet/payouts per user
        "wallet_topup": "20/m",  # POST /api/wallet/topups and .../verify per user
        "wallet_payout_account": "10/m",  # POST/DELETE /api/wallet/payout-accounts per user
        "analytics_ingest": "120/m",  # POST /api/analytics/events per IP
    }.items()
}
# With the cache (Redis) unreachable: "local" per-process counters, "closed" 503 + Retry-After,
# "open" uncounted (core.api.ratelimit; the choice per endpoint is explained in docs/operations.md).
RATELIMIT_ON_CACHE_DOWN = {"token_ip": "local", "token_username": "local", "token_refresh": "local",
                           "user_block": "local", "wallet_refund": "closed", "wallet_payout": "closed",
                           "analytics_ingest": "open"}
# Off by default in the test suite (one shared LocMem counter across unrelated tests); the
# rate-limit tests switch it on.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=not TESTING)
RATELIMIT_CACHE_PREFIX = "dgt:rl:"

# --- transport security, hosts, CORS --------------------------------------------------------
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CORS_ALLOWED_ORIGINS = env.list("CORS_ORIGIN", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=CORS_ALLOWED_ORIGINS)
# Proxies whose X-Forwarded-For we believe (IP addresses or CIDR ranges). Empty: REMOTE_ADDR.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
CORS_ALLOW_CREDENTIALS = False  # the apps send a bearer token; cookies stay first-party (admin)
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Idempotent-Replayed"]
CORS_ALLOW_HEADERS = [*default_headers, "idempotency-key", "x-request-id"]
# On by default in production mode (DEBUG off), each switchable from the env.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes speak plain HTTP inside the cluster
if env.bool("SECURE_PROXY_SSL", default=False):  # the proxy terminates TLS and sets X-Forwarded-Proto
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- i18n, static files, storages -----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=VAR_DIR / "static")
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root
WHITENOISE_USE_FINDERS = DEBUG

# Backups: django-dbbackup into BACKUP_DIR, or S3 (django-storages) when the bucket and keys are set.
BACKUP_DIR = Path(env.str("BACKUP_DIR", default=str(VAR_DIR / "backups")))
AWS_S3_BUCKET = env.str("AWS_S3_BUCKET", default="")
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="")
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="")
if AWS_S3_BUCKET and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY:
    _backup_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_S3_BUCKET,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "region_name": env.str("AWS_S3_REGION", default="") or None,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "location": env.str("AWS_S3_BACKUP_PREFIX", default="dgt-backups"),
            "default_acl": "private",
            "file_overwrite": False,
        },
    }
else:
    _backup_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage",
                       "OPTIONS": {"location": str(BACKUP_DIR)}}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "dbbackup": _backup_storage,
}
DBBACKUP_CLEANUP_KEEP = env.int("BACKUP_KEEP", default=14)
DBBACKUP_SEND_EMAIL = False
# SQLite restore through the backup API (safe with WAL and open connections); see ops/backups.py.
DBBACKUP_CONNECTOR_MAPPING = {"django.db.backends.sqlite3": "ops.backups.SqliteOnlineConnector"}

# --- logging --------------------------------------------------------------------------------
# Logs never carry PII in clear: emails, phone numbers, tokens, Authorization headers (core.logging).
# One line per event, UTC with its zone and the request id (docs/access-and-hardening.md "Logs"):
# every response is logged once by core.middleware (4xx at WARNING); Django's own 4xx records are
# dropped. uvicorn's and Celery's loggers write through the same handler.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"()": "core.logging.UtcFormatter"}},
    "filters": {"mask_pii": {"()": "core.logging.MaskPIIFilter"},
                "drop_client_errors": {"()": "core.logging.DropClientErrors"},
                "drop_websocket_accepts": {"()": "core.logging.DropWebsocketAccepts"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["mask_pii"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Django's default config gives "django" its own console handler (DEBUG on): every django.*
        # record would print twice. One handler, the root's.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["drop_client_errors"]},
        "django.security.csrf": {"filters": ["drop_client_errors"]},
        # uvicorn (the Procfile's ws process): through our handler; its access lines would repeat
        # core.middleware's, its line per accepted websocket is dropped (core.logging).
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True, "filters": ["drop_websocket_accepts"]},
        "uvicorn.access": {"handlers": [], "propagate": True, "level": "WARNING"},
    },
}

# --- monitoring (ops) -----------------------------------------------------------------------
# /api/admin/queues, /readyz, /metrics watch the queues of QUEUES.
QUEUES_INSPECT_TIMEOUT_SECONDS = env.float("QUEUES_INSPECT_TIMEOUT_SECONDS", default=1.0)
BROKER_CHECK_TIMEOUT_SECONDS = env.float("BROKER_CHECK_TIMEOUT_SECONDS", default=2.0)
# Addresses (or CIDR ranges) that may scrape /metrics without signing in; admins always may.
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"])

# --- outbox, realtime, admin dashboard (docs/realtime.md) -----------------------------------
# Relay: first retry after the after-commit send had its chance; then exponential backoff
# (base * 2**(attempts-1), capped); failed after OUTBOX_MAX_ATTEMPTS.
OUTBOX_FIRST_RETRY_SECONDS = env.int("OUTBOX_FIRST_RETRY_SECONDS", default=10)
OUTBOX_BACKOFF_BASE_SECONDS = env.int("OUTBOX_BACKOFF_BASE_SECONDS", default=10)
OUTBOX_BACKOFF_MAX_SECONDS = env.int("OUTBOX_BACKOFF_MAX_SECONDS", default=3600)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=1000)
OUTBOX_RETENTION = timedelta(days=env.int("OUTBOX_RETENTION_DAYS", default=7))
# Embedded mode (in-memory layer): only the process serving websockets can reach them; it runs
# a relay loop this often (0: off; off in the test process). Other processes leave their rows pending for it.
OUTBOX_EMBEDDED_RELAY_SECONDS = env.float("OUTBOX_EMBEDDED_RELAY_SECONDS", default=0.0 if TESTING else 1.0)
# Tests run publisher and sockets in one process: let any process send to the in-memory layer.
OUTBOX_SEND_FROM_ANY_PROCESS = env.bool("OUTBOX_SEND_FROM_ANY_PROCESS", default=TESTING)
# The relay loop (`manage.py outbox_relay_loop`, Procfile `relay`): how often it looks for due
# events and follow-ups, so both flow again within about this long after Redis returns.
OUTBOX_RELAY_LOOP_SECONDS = env.float("OUTBOX_RELAY_LOOP_SECONDS", default=1.0)
# Whether this process hands its committed outbox rows and follow-ups to Redis / Celery itself
# after commit (on) or writes them due at once and leaves them to the relay loop, which looks for
# due rows every OUTBOX_RELAY_POLL_SECONDS (off: the Procfile's `web` line, so a request does no
# after-commit work; docs/realtime.md "Write path", docs/benchmarks.md).
OUTBOX_SEND_AFTER_COMMIT = env.bool("OUTBOX_SEND_AFTER_COMMIT", default=True)
# Between its ticks the relay loop looks this often for rows due now (one cheap statement): the most
# an event of the web line waits for the relay (docs/realtime.md "Write path").
OUTBOX_RELAY_POLL_SECONDS = env.float("OUTBOX_RELAY_POLL_SECONDS", default=0.02)
# Follow-up tasks (outbox.followups): dispatched again when not done after this long (doubling,
# capped at OUTBOX_BACKOFF_MAX_SECONDS), failed after FOLLOWUP_MAX_DISPATCHES dispatches.
FOLLOWUP_REDISPATCH_SECONDS = env.int("FOLLOWUP_REDISPATCH_SECONDS", default=120)
FOLLOWUP_FAILED_RETRY_SECONDS = env.int("FOLLOWUP_FAILED_RETRY_SECONDS", default=5)
FOLLOWUP_MAX_DISPATCHES = env.int("FOLLOWUP_MAX_DISPATCHES", default=8)
RESUME_MAX = env.int("RESUME_MAX", default=1000)
WS_AUTH_TIMEOUT_SECONDS = env.float("WS_AUTH_TIMEOUT_SECONDS", default=10.0)
# At most this many /ws/events/ handshakes (accept to ready and resume) run at once per process; the
# rest wait, unanswered, for a slot (realtime.admission; 0: no limit; docs/operations.md).
WS_HANDSHAKES_IN_FLIGHT = env.int("WS_HANDSHAKES_IN_FLIGHT", default=256)
# Frame limits of /ws/events/ (docs/realtime.md, frame limits): a frame before authentication
# larger than WS_PREAUTH_MAX_BYTES, or any frame larger than WS_MAX_BYTES, closes the socket with
# 4009 (frame too big). The servers refuse frames over WS_MAX_BYTES before buffering them
# (uvicorn --ws-max-size, daphne --websocket-max-message-size/--websocket-max-frame-size: keep
# those flags equal to WS_MAX_BYTES).
WS_PREAUTH_MAX_BYTES = env.int("WS_PREAUTH_MAX_BYTES", default=4096)
WS_MAX_BYTES = env.int("WS_MAX_BYTES", default=65536)
WS_RECHECK_SECONDS = env.float("WS_RECHECK_SECONDS", default=60.0)
# A group no local socket holds any more is unsubscribed this much later (realtime.fanout; 0 in
# tests, whose event loops end right after their sockets and must leave the shared in-memory layer clean).
WS_GROUP_DISCARD_DELAY_SECONDS = env.float("WS_GROUP_DISCARD_DELAY_SECONDS", default=0.0 if TESTING else 1.0)
ADMIN_STATS_INTERVAL_SECONDS = env.float("ADMIN_STATS_INTERVAL_SECONDS", default=1.0)
# The relay loop publishes an unchanged dashboard snapshot again after this long; a ws process that
# heard none for ADMIN_STATS_STALE_SECONDS computes it itself (docs/realtime.md, admin stats).
ADMIN_STATS_REFRESH_SECONDS = env.float("ADMIN_STATS_REFRESH_SECONDS", default=10.0)
ADMIN_STATS_STALE_SECONDS = env.float("ADMIN_STATS_STALE_SECONDS", default=25.0)
# The ASGI process freezes its start-up objects out of the GC and collects less often (dgt/asgi.py);
# not in the test process, which imports the ASGI app and should collect as Python does.
ASGI_GC_TUNING = env.bool("ASGI_GC_TUNING", default=not TESTING)
# How long the ASGI process's event loop may hold the GIL before a database thread that waits for it
# gets it (sys.setswitchinterval; Python's default 0.005 s). A websocket handshake waits on a batched
# read in a database thread, which needs the GIL back after each of its socket calls (dgt/asgi.py;
# docs/benchmarks.md, "The connect path: the GIL"). 0 leaves Python's default, as in the test process.
ASGI_SWITCH_INTERVAL_SECONDS = env.float("ASGI_SWITCH_INTERVAL_SECONDS", default=0.0 if TESTING else 0.0005)
# Socket.IO at /socket.io/ (docs/realtime.md): a larger client message or polling POST is refused.
SOCKETIO_MAX_FRAME_BYTES = env.int("SOCKETIO_MAX_FRAME_BYTES", default=64 * 1024)
SOCKETIO_PING_INTERVAL_SECONDS = env.float("SOCKETIO_PING_INTERVAL_SECONDS", default=25.0)
SOCKETIO_PING_TIMEOUT_SECONDS = env.float("SOCKETIO_PING_TIMEOUT_SECONDS", default=20.0)

# --- listings, search, analytics, banners ---------------------------------------------------
LISTING_CATEGORIES = env.list(
    "LISTING_CATEGORIES", default=["electronics", "vehicles", "property", "jobs", "furniture", "misc"]
)
LISTING_DEFAULT_EXPIRY_DAYS = 30
# Moderation workspace (docs/moderation.md): claim length, the age past which the queue highlights a
# listing, and how young an account is a "new seller" for the queue filter.
MODERATION_CLAIM_MINUTES = env.int("MODERATION_CLAIM_MINUTES", default=5)
MODERATION_SLA_MINUTES = env.int("MODERATION_SLA_MINUTES", default=60)
MODERATION_NEW_SELLER_DAYS = env.int("MODERATION_NEW_SELLER_DAYS", default=30)
# Listings claimed per transaction by the hourly expiry job (listings.expiry).
EXPIRY_BATCH_SIZE = env.int("EXPIRY_BATCH_SIZE", default=500)
# Full-text search (listings.search): PostgreSQL text search configuration; SQLite uses containment.
SEARCH_CONFIG = env.str("SEARCH_CONFIG", default="english")
SEARCH_MAX_QUERY_LENGTH = 200
# Client analytics batches (analytics app).
ANALYTICS_MAX_BATCH = 500
ANALYTICS_MAX_PROPERTIES_BYTES = 4096
ANALYTICS_MAX_AGE_DAYS = 30  # older client timestamps are rejected (a broken clock, not late data)
# Public banner feed cache (dropped on every banner change; never longer than the next schedule edge).
BANNER_CACHE_SECONDS = env.int("BANNER_CACHE_SECONDS", default=60)

# --- wallet (docs/wallet.md) ----------------------------------------------------------------
# Razorpay switches on when the key id and secret are set; otherwise the deterministic fake gateway.
RAZORPAY_KEY_ID = env.str("RAZORPAY_KEY_ID", default="")
RAZORPAY_KEY_SECRET = env.str("RAZORPAY_KEY_SECRET", default="")
RAZORPAY_ACCOUNT_NUMBER = env.str("RAZORPAY_ACCOUNT_NUMBER", default="")  # RazorpayX account paying out
# Webhooks are accepted only with a valid signature; with no secret (production) none is accepted.
RAZORPAY_WEBHOOK_SECRET = env.str("RAZORPAY_WEBHOOK_SECRET",
                                  default="dev-insecure-razorpay-webhook-secret" if DEBUG or TESTING else "")
PAYMENT_GATEWAY_FAKE_OUTCOME = env.str("PAYMENT_GATEWAY_FAKE_OUTCOME", default="succeed")
REFUND_GOODWILL_MAX = Decimal(env.str("REFUND_GOODWILL_MAX", default="10000.00")).quantize(Decimal("0.01"))
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
IDEMPOTENCY_LOCK_TIMEOUT_SECONDS = env.int("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", default=60)
# Top-ups and payout accounts. The fake gateway signs Checkout answers with this secret.
PAYMENT_GATEWAY_FAKE_KEY_SECRET = env.str("PAYMENT_GATEWAY_FAKE_KEY_SECRET", default="fake-key-secret")
TOPUP_MIN_AMOUNT = Decimal(env.str("TOPUP_MIN_AMOUNT", default="1.00")).quantize(Decimal("0.01"))  # Razorpay's minimum
TOPUP_MAX_AMOUNT = Decimal(env.str("TOPUP_MAX_AMOUNT", default="50000.00")).quantize(Decimal("0.01"))  # per top-up
TOPUP_DAILY_MAX = Decimal(env.str("TOPUP_DAILY_MAX", default="100000.00")).quantize(Decimal("0.01"))  # per user, day
# A new or changed payout account receives no payout for this long (account-takeover defence);
# one minute in the local demo (DEBUG, `make run`), 24 hours otherwise.
PAYOUT_ACCOUNT_COOLOFF_SECONDS = env.int("PAYOUT_ACCOUNT_COOLOFF_SECONDS",
                                         default=60 if DEBUG and not TESTING else 24 * 3600)
# RazorpayX fund account validation of every new payout account; payouts wait for its success.
PAYOUT_ACCOUNT_VALIDATION = env.bool("PAYOUT_ACCOUNT_VALIDATION", default=False)

# --- notifications (docs/notifications.md) --------------------------------------------------
# Global send rate across every worker (Redis fixed window per second; process-local embedded).
NOTIFICATION_RATE_LIMIT_PER_SECOND = env.int("NOTIFICATION_RATE_LIMIT_PER_SECOND", default=100)
NOTIFICATION_RATE_LIMIT_KEY = env.str("NOTIFICATION_RATE_LIMIT_KEY", default=f"{CHANNEL_PREFIX}:notifications:rate")
NOTIFICATION_MAX_RETRIES = env.int("NOTIFICATION_MAX_RETRIES", default=5)
NOTIFICATION_RETRY_BASE_SECONDS = env.float("NOTIFICATION_RETRY_BASE_SECONDS", default=15.0)
NOTIFICATION_RETRY_MAX_SECONDS = env.float("NOTIFICATION_RETRY_MAX_SECONDS", default=900.0)
# A row claimed (sending) longer than this lost its worker (a send takes seconds: provider
# timeouts plus the rate-limit wait): the sweeper raises an admin.alert, admins may retry it.
NOTIFICATION_STALE_SENDING_SECONDS = env.int("NOTIFICATION_STALE_SENDING_SECONDS", default=90)
# A queued notification older than this (never claimed) lost its task message: the sweeper sends it.
NOTIFICATION_SWEEP_AFTER_SECONDS = env.int("NOTIFICATION_SWEEP_AFTER_SECONDS", default=120)
# Rows queued again per sweep (every 5 minutes); the rest wait for the next run.
NOTIFICATION_SWEEP_LIMIT = env.int("NOTIFICATION_SWEEP_LIMIT", default=5000)
# Providers switch on with their credentials; console/log (and Django's console email) otherwise.
FCM_CREDENTIALS_FILE = env.str("FCM_CREDENTIALS_FILE", default="")
FCM_CREDENTIALS_JSON = env.str("FCM_CREDENTIALS_JSON", default="")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
SENDGRID_API_KEY = env.str("SENDGRID_API_KEY", default="")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="dgt <no-reply@dgt.local>")
if SENDGRID_API_KEY:
    EMAIL_BACKEND = "anymail.backends.sendgrid.EmailBackend"
    ANYMAIL = {"SENDGRID_API_KEY": SENDGRID_API_KEY}
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="notifications.providers.email_log.LogEmailBackend")
NOTIFICATION_PROVIDERS = {
    "push": ("notifications.providers.fcm.FcmPushProvider" if FCM_CREDENTIALS_FILE or FCM_CREDENTIALS_JSON
             else "notifications.providers.console.ConsolePushProvider"),
    "sms": ("notifications.providers.twilio_sms.TwilioSmsProvider"
            if TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN and TWILIO_FROM_NUMBER
            else "notifications.providers.console.ConsoleSmsProvider"),
    "email": "notifications.providers.email.DjangoEmailProvider",
}
