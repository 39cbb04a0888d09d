"""dgt settings, read from the environment (django-environ).

Two modes, chosen by the environment alone:

* embedded — no DATABASE_URL and no REDIS_URL: SQLite file under var/, in-memory channel layer,
  LocMem cache, Celery tasks run inline. This is what `make run` and `make test` use on a fresh
  machine.
* services — DATABASE_URL=postgres://... and REDIS_URL=redis://...: PostgreSQL (psycopg 3),
  channels-redis, a Redis cache shared by every process (rate limits) and a real Celery worker.

DEBUG is off unless DEBUG=1. With DEBUG off, SECRET_KEY and JWT_SECRET have no defaults and
start-up stops with a clear message when they are missing. Every variable is listed in
.env.example.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
TESTING = env.bool("DGT_TESTING", default=False)
WHITENOISE_USE_FINDERS = DEBUG


def _secret(name: str, dev_default: str) -> str:
    """A secret from the environment; a development default only when DEBUG is on."""
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG or TESTING:
        return dev_default
    raise ImproperlyConfigured(
        f"{name} is not set. dgt refuses to start in production mode (DEBUG off) without it; "
        f"set {name} in the environment (see .env.example), or DEBUG=1 for local development."
    )


SECRET_KEY = _secret("SECRET_KEY", "dev-insecure-secret-key-do-not-use-in-production-0123456789")
JWT_SECRET = _secret("JWT_SECRET", "dev-insecure-jwt-secret-do-not-use-in-production-0123")

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
EMBEDDED = not DATABASE_URL and not REDIS_URL
SERVICES = bool(DATABASE_URL and REDIS_URL)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CORS_ALLOWED_ORIGINS = env.list("CORS_ORIGIN", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=CORS_ALLOWED_ORIGINS)
# Proxies whose X-Forwarded-For we believe (IP addresses or CIDR ranges). Empty: REMOTE_ADDR.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

INSTALLED_APPS = [
    "daphne",
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
    "django_filters",
    "drf_spectacular",
    "corsheaders",
    "channels",
    "django_celery_beat",
    "django_celery_results",
    "dgt",
    "accounts",
    "audit",
    "outbox",
    "notifications",
    "listings",
    "wallet",
    "banners",
    "analytics",
]

MIDDLEWARE = [
    "audit.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dgt.urls"
WSGI_APPLICATION = "dgt.wsgi.application"
ASGI_APPLICATION = "dgt.asgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "dgt" / "templates"],
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
if DATABASE_URL:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # CONN_MAX_AGE must stay 0 under ASGI with sync views (one leaked connection per thread);
        # gunicorn sets DB_CONN_MAX_AGE for its long-lived sync workers.
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    VAR_DIR.mkdir(exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(VAR_DIR / "dgt.sqlite3")),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache, channel layer, celery -----------------------------------------------------------
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("CHANNEL_PREFIX", default="dgt")},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
# Inline in embedded mode and in the test suite (the end-to-end test runs a real worker).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL or TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "notifications.tasks.*": {"queue": "notifications"},
    "listings.tasks.search_*": {"queue": "search"},
    "analytics.tasks.*": {"queue": "analytics"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "Asia/Kolkata"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- auth, DRF, JWT -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "dgt.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "dgt.api.errors.exception_handler",
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
    "UPDATE_LAST_LOGIN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "dgt back office API",
    "DESCRIPTION": "Listings moderation, wallet, banners, audit and live events of the dgt marketplace.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- domain settings ------------------------------------------------------------------------
LISTING_CATEGORIES = env.list(
    "LISTING_CATEGORIES", default=["electronics", "vehicles", "property", "jobs", "furniture", "misc"]
)
LISTING_DEFAULT_EXPIRY_DAYS = 30
NOTIFICATION_BACKEND = env.str("NOTIFICATION_BACKEND", default="notifications.backends.LogBackend")
WS_AUTH_TIMEOUT_SECONDS = env.float("WS_AUTH_TIMEOUT_SECONDS", default=10.0)

# --- i18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- blocking, banners, rate limits, hardening (issue 4) ----------------------------------------
# Refresh tokens are recorded (OutstandingToken) so a block can blacklist them (accounts.services).
INSTALLED_APPS += ["rest_framework_simplejwt.token_blacklist"]
SIMPLE_JWT["TOKEN_REFRESH_SERIALIZER"] = "accounts.serializers.TokenRefreshSerializerDB"
# A blocked user's Django session (admin, websocket session auth) stops working at once.
AUTHENTICATION_BACKENDS = ["accounts.backends.BlockAwareModelBackend"]

# Rate limits (django-ratelimit through dgt.api.ratelimit): name -> "count/period", env-overridable
# as RATELIMIT_<NAME upper>. Counted in the default cache: Redis in services mode, so every
# gunicorn worker and every process shares one counter.
RATELIMIT_RATES = {
    name: env.str(f"RATELIMIT_{name.upper()}", default=default)
    for name, default in {
        "token_ip": "30/m",  # POST /api/auth/token per client IP
        "token_username": "10/m",  # POST /api/auth/token per username tried
        "token_refresh": "30/m",  # POST /api/auth/token/refresh per client IP
        "user_block": "30/m",  # block / unblock / role per admin
        "wallet_refund": "30/m",  # POST /api/wallet/refund per admin
        "wallet_payout": "10/m",  # POST /api/wallet/payouts per user
        "analytics_ingest": "120/m",  # POST /api/analytics/events per IP
    }.items()
}
# Off by default in the test suite (one shared LocMem counter across unrelated tests); the
# rate-limit tests switch it on.
RATELIMIT_ENABLE = env.bool("RATELIMIT_ENABLE", default=not TESTING)
RATELIMIT_CACHE_PREFIX = "dgt:rl:"

# Public banner feed cache (dropped on every banner change; never longer than the next schedule edge).
BANNER_CACHE_SECONDS = env.int("BANNER_CACHE_SECONDS", default=60)

# Transport security: on by default in production mode (DEBUG off), each switchable from the env.
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
CORS_ALLOW_CREDENTIALS = False  # the apps send a bearer token; cookies stay first-party (admin)
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After", "Idempotent-Replayed"]
from corsheaders.defaults import default_headers  # noqa: E402

CORS_ALLOW_HEADERS = [*default_headers, "idempotency-key", "x-request-id"]

# Logs never carry PII in clear: emails, phone numbers, tokens, Authorization headers (dgt.logging).
LOGGING["filters"] = {"mask_pii": {"()": "dgt.logging.MaskPIIFilter"}}
LOGGING["handlers"]["console"]["filters"] = ["mask_pii"]
