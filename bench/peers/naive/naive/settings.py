"""Settings of the naive peer: one app, no middleware, the bench database from DATABASE_URL."""
import os
from urllib.parse import urlsplit

_db = urlsplit(os.environ["DATABASE_URL"])
SECRET_KEY = os.environ.get("SECRET_KEY", "naive-peer-loopback-only")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["naive"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "naive.urls"
WSGI_APPLICATION = "naive.wsgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A persistent connection per worker, as a plain Django deployment under gunicorn would have.
DATABASES = {"default": {
    "ENGINE": "django.db.backends.postgresql", "NAME": _db.path.lstrip("/"), "USER": _db.username or "postgres",
    "PASSWORD": _db.password or "", "HOST": _db.hostname, "PORT": _db.port or 5432, "CONN_MAX_AGE": 60,
}}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
