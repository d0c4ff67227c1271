from django.apps import AppConfig


class TransfersConfig(AppConfig):
    """Import and export jobs over datasets (the batch import/export docs, seed 004)."""

    name = "apps.transfers"
    verbose_name = "Import and export jobs"
