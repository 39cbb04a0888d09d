"""WSGI entry point: the HTTP API and admin under gunicorn (the Procfile's `web`)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dgt.settings")
application = get_wsgi_application()

from core.pools import pools_prepared  # noqa: E402  (needs the settings)

pools_prepared()
