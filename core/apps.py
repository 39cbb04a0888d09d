from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Code every app shares: errors, API helpers, request context, logging, admin helpers and the
    dashboard stats registry. Imports no app of dgt (docs/architecture.md)."""

    name = "core"
    verbose_name = "core"

    def ready(self):
        from django.contrib import admin
        from django.utils.module_loading import autodiscover_modules

        # Branding (docs/moderation.md); core/templates/admin/base_site.html replaces "View site"
        # (which led nowhere) with the moderation queue and the API docs.
        admin.site.site_header = admin.site.site_title = "dgt back office"
        admin.site.index_title = "Back office"
        admin.site.site_url = "/api/docs"

        # Every app adds its dashboard numbers in its own stats.py (core.stats).
        autodiscover_modules("stats")
