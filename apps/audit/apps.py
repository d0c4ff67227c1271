from django.apps import AppConfig


class AuditConfig(AppConfig):
    """Who changed what, when, and from which surface: an append-only trail per
    organisation."""

    name = "apps.audit"
    verbose_name = "Audit trail"
