from django.apps import AppConfig


class PluginsConfig(AppConfig):
    name = "apps.plugins"
    verbose_name = "Plugins"
