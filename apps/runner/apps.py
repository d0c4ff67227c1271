from django.apps import AppConfig


class RunnerConfig(AppConfig):
    name = "apps.runner"
    verbose_name = "Runner"
