from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Telling people when runs fail, recover, start late or run long: rules, channels
    (e-mail, signed webhooks) and every delivery attempt."""

    name = "apps.alerts"
    verbose_name = "Alerts"
