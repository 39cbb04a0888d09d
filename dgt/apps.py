from django.apps import AppConfig


class DgtConfig(AppConfig):
    """Project-level pieces: management commands (runjob, demo_data), templates, admin branding."""

    name = "dgt"
    verbose_name = "dgt"

    def ready(self):
        from django.contrib import admin

        # Branding (docs/moderation.md); dgt/templates/admin/base_site.html shows "API docs" for "View site".
        admin.site.site_header = admin.site.site_title = "dgt back office"
        admin.site.index_title = "Back office"
        admin.site.site_url = "/api/docs"
