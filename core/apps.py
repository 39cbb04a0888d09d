from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Code every app shares: errors, API helpers, request context, logging, admin helpers and the
    dashboard stats registry. Imports no app of dgt (docs/architecture.md)."""

    name = "core"
    verbose_name = "core"

    def ready(self):
        from django.utils.module_loading import autodiscover_modules

        # Every app adds its dashboard numbers in its own stats.py (core.stats).
        autodiscover_modules("stats")
