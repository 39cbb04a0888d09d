from django.apps import AppConfig


class DgtConfig(AppConfig):
    """Project-level pieces: management commands (runjob, demo_data) and templates."""

    name = "dgt"
    verbose_name = "dgt"
