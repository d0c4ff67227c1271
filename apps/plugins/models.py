from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from apps.accounts.models import Organisation
from apps.core.models import FieldUniqueConstraint, OrganisationOwned, StorableJSONField
from apps.plugins.artifacts import artifact_upload_path
from apps.plugins.property_types import (
    PropertyType,
    is_sealed,
    sealed,
    validate_property_value,
)

# Maven-style coordinates, as in the seed's "com.my-client.integration_batch".
coordinate_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z",
    "Use letters, digits, dots, dashes and underscores, starting with a letter or digit.",
)
# Semantic Versioning 2.0.0, the regular expression published on semver.org.
semver_validator = RegexValidator(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z",
    "Use a semantic version such as 1.0.0 or 2.1.0-beta.1.",
)
technical_name_validator = RegexValidator(
    r"^[A-Za-z_][A-Za-z0-9_.-]*\Z",
    "Start with a letter or underscore; then letters, digits, dots, dashes, underscores.",
)


class PluginType(models.TextChoices):
    INTEGRATION_BATCH = "INTEGRATION_BATCH"
    AUDIENCE_SEGMENT_EXTERNAL_FEED = "AUDIENCE_SEGMENT_EXTERNAL_FEED"


class Plugin(OrganisationOwned):
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="plugins")
    plugin_type = models.CharField(max_length=40, choices=PluginType.choices)
    group_id = models.CharField(max_length=255, validators=[coordinate_validator])
    artifact_id = models.CharField(max_length=255, validators=[coordinate_validator])
    name = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["group_id", "artifact_id"]
        constraints = [
            # Unique within an organisation rather than globally, so that no organisation can
            # learn which coordinates another one uses.
            FieldUniqueConstraint(
                fields=["organisation", "group_id", "artifact_id"],
                name="plugin_coordinates_unique_in_organisation",
                violation_error_message=(
                    "This organisation already has a plugin with this group_id and artifact_id."
                ),
            ),
            models.CheckConstraint(
                condition=Q(plugin_type__in=PluginType.values), name="plugin_type_valid"
            ),
        ]

    def __str__(self):
        return f"{self.group_id}:{self.artifact_id}"


class PluginVersion(OrganisationOwned):
    """A version: its declared properties and its code. The code is uploaded once, with
    the version or after it, and never changes: a fix is a new version."""

    organisation_lookup = "plugin__organisation"

    plugin = models.ForeignKey(Plugin, on_delete=models.CASCADE, related_name="versions")
    version_id = models.CharField(max_length=64, validators=[semver_validator])
    artifact = models.FileField(upload_to=artifact_upload_path, max_length=500, blank=True)
    artifact_name = models.CharField(max_length=255, blank=True, editable=False)
    artifact_size = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    artifact_sha256 = models.CharField(max_length=64, blank=True, editable=False)
    entry_point = models.CharField(
        max_length=255,
        blank=True,
        help_text="module or module:ClassName. Defaults to the module of a .py file.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["plugin", "-created_at"]
        constraints = [
            FieldUniqueConstraint(
                fields=["plugin", "version_id"],
                name="plugin_version_id_unique_in_plugin",
                violation_error_message="This plugin already has a version with this version_id.",
            ),
        ]

    def __str__(self):
        return f"{self.plugin} {self.version_id}"

    @property
    def has_code(self) -> bool:
        return bool(self.artifact_sha256)

    def save(self, *args, **kwargs):
        # Its code arrives by a conditional update (plugin_version_upload_code), never here.
        if not self._state.adding:
            raise ValidationError("A plugin version cannot be changed once created.")
        super().save(*args, **kwargs)


def is_stored_secret(row) -> bool:
    """A row's value is a SECRET as the platform encrypted it (not one sent in that shape:
    only the platform encrypts)."""
    return (
        is_sealed(row.value)
        and bool(row.pk)
        and type(row).objects.filter(pk=row.pk, value=row.value).exists()
    )


class PropertyOrigin(models.TextChoices):
    PLUGIN = "PLUGIN"
    PLUGIN_STATIC = "PLUGIN_STATIC"
    INSTANCE = "INSTANCE"


class PluginProperty(OrganisationOwned):
    """A property declared by a version, with its default value."""

    organisation_lookup = "version__plugin__organisation"

    version = models.ForeignKey(PluginVersion, on_delete=models.CASCADE, related_name="properties")
    technical_name = models.CharField(max_length=255, validators=[technical_name_validator])
    property_type = models.CharField(max_length=32, choices=PropertyType.choices)
    value = StorableJSONField(default=dict, blank=True)
    origin = models.CharField(
        max_length=16, choices=PropertyOrigin.choices, default=PropertyOrigin.PLUGIN
    )
    writable = models.BooleanField(
        default=True, help_text="Whether an instance may override the value."
    )
    deletable = models.BooleanField(default=True)

    class Meta:
        ordering = ["version_id", "pk"]  # as declared (by id: no join to order by)
        verbose_name_plural = "plugin properties"
        constraints = [
            FieldUniqueConstraint(
                fields=["version", "technical_name"],
                name="plugin_property_name_unique_in_version",
                violation_error_message="This version already declares a property with this name.",
            ),
            models.CheckConstraint(
                condition=Q(property_type__in=PropertyType.values),
                name="plugin_property_type_valid",
            ),
            models.CheckConstraint(
                condition=Q(origin__in=PropertyOrigin.values), name="plugin_property_origin_valid"
            ),
        ]

    def __str__(self):
        return self.technical_name

    def check_deletable(self) -> None:
        if not self.deletable:
            raise ValidationError(
                {"technical_name": f"{self.technical_name} is declared as not deletable."}
            )

    def clean(self):
        if self.property_type in PropertyType.values and not is_stored_secret(self):
            try:
                validate_property_value(self.property_type, self.value)
            except ValidationError as error:
                raise ValidationError({"value": error.messages}) from None

    def save(self, *args, **kwargs):
        self.value = sealed(self.property_type, self.value)  # a SECRET is kept encrypted
        super().save(*args, **kwargs)


class BatchingConfiguration(OrganisationOwned):
    """How the platform groups unit updates into batches for an external feed version."""

    organisation_lookup = "version__plugin__organisation"

    version = models.OneToOneField(
        PluginVersion, on_delete=models.CASCADE, related_name="batching_configuration"
    )
    enable_batching = models.BooleanField()
    batch_flush_max_size = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(1_000_000)],
        help_text="The maximum number of lines in one batch.",
    )

    def __str__(self):
        return f"Batching of {self.version}"

    def clean(self):
        version = getattr(self, "version", None)
        if version and version.plugin.plugin_type != PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED:
            raise ValidationError(
                {
                    "version": "Batching is only available for plugins of type "
                    "AUDIENCE_SEGMENT_EXTERNAL_FEED; this one is "
                    f"{version.plugin.plugin_type}."
                }
            )
