from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operations: monitoring (queues, metrics, health), the live admin dashboard page, backups,
    and the commands runjob, setup_periodic_tasks and demo_data (docs/jobs-and-monitoring.md)."""

    name = "ops"
    verbose_name = "operations"

    def ready(self):
        from django.contrib import admin

        # The live panel on the admin index (ops/templates/admin/dgt_index.html).
        admin.site.index_template = "admin/dgt_index.html"
