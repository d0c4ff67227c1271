from django.conf import settings
from django.db import models

from apps.accounts.models import Organisation
from apps.core.models import OrganisationOwned


class Surface(models.TextChoices):
    CONSOLE = "CONSOLE", "Console"
    API = "API", "API"
    ADMIN = "ADMIN", "Admin"
    COMMAND = "COMMAND", "Command"
    SYSTEM = "SYSTEM", "System"  # the scheduler, the workers, the failure breaker


class AuditEvent(OrganisationOwned):
    """One change an operator cares about. Written by the services that make the change,
    in the same transaction; never changed or deleted through the product."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="audit_events"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # As it was at the time (a user may be renamed or deleted): "ana", "ana (token deploy)".
    actor_name = models.CharField(max_length=300)
    surface = models.CharField(max_length=8, choices=Surface.choices)
    action = models.CharField(max_length=64, help_text="What happened: instance.paused…")
    target_type = models.CharField(max_length=32)
    target_id = models.CharField(max_length=64)
    target_name = models.CharField(max_length=300)
    changes = models.JSONField(
        default=dict, blank=True, help_text="Field: [before, after]; secrets only say set."
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "-created_at", "-id"], name="audit_recent"),
            models.Index(
                fields=["organisation", "target_type", "target_id"], name="audit_by_target"
            ),
        ]

    def __str__(self):
        return f"{self.actor_name} {self.action} {self.target_name}"
