import hashlib

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from apps.core.models import (
    MAX_RETENTION_DAYS,
    OrganisationOwned,
    OrganisationScopedQuerySet,
    Retention,
)


class Organisation(Retention, OrganisationOwned):
    organisation_lookup = "pk"

    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    keep_data_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RETENTION_DAYS)],
        help_text="Batches' data and jobs' files older than this many days are removed "
        "(their records stay).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def owner_organisation_id(self):
        return self.pk


class Role(models.TextChoices):
    """Declared from most to least powerful: each role can do all that the ones below can."""

    ADMIN = "ADMIN", "Admin"
    EDITOR = "EDITOR", "Editor"
    READER = "READER", "Reader"

    def includes(self, other: "Role") -> bool:
        ranking = list(Role)
        return ranking.index(self) <= ranking.index(other)

    @classmethod
    def at_least(cls, minimum: "Role") -> list["Role"]:
        return [role for role in cls if role.includes(minimum)]


class Membership(OrganisationOwned):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.READER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organisation__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation"], name="membership_one_per_user_and_organisation"
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]

    def __str__(self):
        return f"{self.user} — {self.organisation} ({self.role})"


class ApiTokenQuerySet(OrganisationScopedQuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(OrganisationOwned):
    """A secret that acts for one user within one organisation, with that user's role there.

    Only a SHA-256 digest is stored: tokens are long random strings, so a fast hash is
    enough and lets each request find its token with one indexed lookup."""

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="api_tokens"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(
        max_length=16, help_text="The token's first characters, to tell tokens apart."
    )
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()  # type: ignore[misc]  # a narrower manager than the base's

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def digest_of(raw_token: str) -> str:
        return hashlib.sha256(raw_token.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
