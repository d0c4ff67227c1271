from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data of `manage.py demo`, and the demo plugin it publishes."""

    name = "apps.demo"
    verbose_name = "Batchworks demo"
