from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "outbox"

    def ready(self):
        from django.contrib import admin
        from django.utils.module_loading import autodiscover_modules

        from .stats import register_builtin

        register_builtin()
        # Other apps add dashboard numbers in their own stats.py (see outbox.stats).
        autodiscover_modules("stats")
        # The live panel on the admin index (outbox/templates/admin/dgt_index.html).
        admin.site.index_template = "admin/dgt_index.html"
