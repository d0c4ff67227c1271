"""Alert rules (an instance's own, or its organisation's default), the channels they send
to, and each alert with every attempt to deliver it."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    URLValidator,
    validate_email,
)
from django.db import models
from django.db.models import Q

from apps.accounts.models import Organisation
from apps.core.models import OrganisationOwned
from apps.scheduling.models import Execution, IntegrationBatchInstance

MAX_MINUTES = 7 * 24 * 60
MAX_RECIPIENTS = 20
http_url = URLValidator(schemes=["http", "https"])


class ChannelKind(models.TextChoices):
    EMAIL = "EMAIL", "E-mail"
    WEBHOOK = "WEBHOOK", "Webhook"


class BodyFormat(models.TextChoices):
    JSON = "JSON", "JSON"
    SLACK = "SLACK", "Slack-compatible"


class AlertChannel(OrganisationOwned):
    """Where alerts go: e-mail addresses, or a URL that receives a JSON body signed with
    HMAC-SHA256 over the channel's own secret."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="alert_channels"
    )
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=ChannelKind.choices)
    recipients = models.CharField(
        max_length=2000, blank=True, help_text="E-mail: addresses, separated by commas."
    )
    url = models.CharField(max_length=2000, blank=True, help_text="Webhook: an http(s) URL.")
    body_format = models.CharField(
        max_length=8, choices=BodyFormat.choices, default=BodyFormat.JSON
    )
    # Encrypted (apps.core.secrets); shown once, when created or renewed.
    signing_secret = models.CharField(max_length=500, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name"], name="alert_channel_name_unique"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=ChannelKind.values), name="alert_channel_kind_valid"
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        """An e-mail channel has valid addresses and no URL; a webhook an http(s) URL."""
        if self.kind == ChannelKind.EMAIL:
            self.url = ""
            self.recipients = ", ".join(self._checked_addresses())
        elif self.kind == ChannelKind.WEBHOOK:
            self.recipients = ""
            if not self.url:
                raise ValidationError({"url": "A webhook channel needs a URL."})
            try:
                http_url(self.url)
            except ValidationError:
                raise ValidationError({"url": "Enter an http:// or https:// URL."}) from None

    def _checked_addresses(self) -> list[str]:
        addresses = self.recipient_list()
        if not addresses:
            raise ValidationError({"recipients": "An e-mail channel needs an address."})
        if len(addresses) > MAX_RECIPIENTS:
            raise ValidationError({"recipients": f"At most {MAX_RECIPIENTS} addresses."})
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    {"recipients": f"{address!r} is not an e-mail address."}
                ) from None
        return addresses

    def recipient_list(self) -> list[str]:
        return [address.strip() for address in self.recipients.split(",") if address.strip()]

    @property
    def destination(self) -> str:
        return ", ".join(self.recipient_list()) if self.kind == ChannelKind.EMAIL else self.url

    @property
    def masked_destination(self) -> str:
        """What non-admins see: a webhook URL's path often is its credential (Slack's)."""
        if self.kind == ChannelKind.EMAIL:
            return self.destination
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.hostname}/…"


class AlertRule(OrganisationOwned):
    """When to alert a channel about an instance's runs. Rules without an instance are the
    organisation's default: an instance with no rule of its own follows them."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="alert_rules"
    )
    instance = models.ForeignKey(
        IntegrationBatchInstance,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_rules",
        help_text="Empty: the organisation's default, for instances with no rule of their own.",
    )
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="rules")
    on_failure = models.BooleanField(
        default=True, help_text="Once per failure streak: the first failed run."
    )
    on_recovery = models.BooleanField(
        default=True, help_text="The first successful run after failures."
    )
    not_started_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_MINUTES)],
        help_text="A run still waiting this many minutes after its expected start.",
    )
    running_longer_than_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_MINUTES)],
        help_text="A run still RUNNING after this many minutes.",
    )
    running_longer_than_p95 = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1.0), MaxValueValidator(100.0)],
        help_text="A run still RUNNING after this many times the instance's recent p95 "
        "duration (once it has 5 successful runs).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(running_longer_than_minutes__isnull=True)
                | Q(running_longer_than_p95__isnull=True),
                name="alert_rule_one_running_limit",
            ),
        ]

    def __str__(self):
        scope = self.instance.name if self.instance_id else "organisation default"
        return f"{scope} → {self.channel}"

    def clean(self):
        if self.running_longer_than_minutes and self.running_longer_than_p95:
            raise ValidationError(
                {"running_longer_than_p95": "Set a fixed duration or a multiple of p95, not both."}
            )
        if self.channel_id and self.channel.organisation_id != self.organisation_id:
            raise ValidationError({"channel": "No such channel in this organisation."})
        triggers = [
            self.on_failure,
            self.on_recovery,
            self.not_started_minutes,
            self.running_longer_than_minutes,
            self.running_longer_than_p95,
        ]
        if not any(triggers):
            raise ValidationError("A rule needs at least one thing to alert on.")

    def triggers(self) -> list[str]:
        said = []
        if self.on_failure:
            said.append("failure")
        if self.on_recovery:
            said.append("recovery")
        if self.not_started_minutes:
            said.append(f"not started after {self.not_started_minutes} min")
        if self.running_longer_than_minutes:
            said.append(f"running over {self.running_longer_than_minutes} min")
        if self.running_longer_than_p95:
            said.append(f"running over {self.running_longer_than_p95:g} x p95")
        return said


class AlertKind(models.TextChoices):
    FAILURE = "FAILURE", "Failure"
    RECOVERY = "RECOVERY", "Recovery"
    PAUSED = "PAUSED", "Paused by the failure breaker"
    NOT_STARTED = "NOT_STARTED", "Not started"
    RUNNING_LONG = "RUNNING_LONG", "Running long"
    TEST = "TEST", "Test"


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    SENT = "SENT", "Sent"
    FAILED = "FAILED", "Failed"  # every attempt failed


class Alert(OrganisationOwned):
    """One alert to one channel. A FAILURE alert stays open for its streak (later failures
    only count) until a success closes it."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="alerts")
    rule = models.ForeignKey(
        AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    instance = models.ForeignKey(
        IntegrationBatchInstance,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    execution = models.ForeignKey(
        Execution, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    kind = models.CharField(max_length=12, choices=AlertKind.choices)
    subject = models.CharField(max_length=300)
    message = models.TextField()
    failures = models.PositiveIntegerField(default=0, help_text="Failed runs in the streak.")
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["organisation", "-created_at", "-id"], name="alert_recent"),
            models.Index(fields=["status", "next_attempt_at"], name="alert_delivery_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "instance"],
                condition=Q(kind="FAILURE", closed_at__isnull=True),
                name="alert_one_open_streak_per_rule",
            ),
            models.UniqueConstraint(
                fields=["rule", "execution", "kind"],
                condition=Q(kind__in=["NOT_STARTED", "RUNNING_LONG"]),
                name="alert_once_per_late_run",
            ),
        ]

    def __str__(self):
        return self.subject


class DeliveryAttempt(OrganisationOwned):
    organisation_lookup = "alert__organisation"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="delivery_attempts")
    attempted_at = models.DateTimeField()
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["attempted_at", "pk"]

    def __str__(self):
        return f"{self.alert}: {self.http_status or self.error or 'sent'}"

    @property
    def succeeded(self) -> bool:
        return not self.error
