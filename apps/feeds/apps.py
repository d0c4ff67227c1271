from django.apps import AppConfig


class FeedsConfig(AppConfig):
    """External feeds (seed 002): unit updates in, batches out by grouping key."""

    name = "apps.feeds"
    verbose_name = "External feeds"
