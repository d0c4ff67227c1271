from collections.abc import Iterable
from functools import partial

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction

from apps.accounts.models import Organisation
from apps.audit import services as audit
from apps.core.errors import TransitionError
from apps.core.secrets import reseal
from apps.plugins.artifacts import inspect_artifact
from apps.plugins.models import (
    BatchingConfiguration,
    Plugin,
    PluginProperty,
    PluginVersion,
)
from apps.plugins.property_types import SEALED_KEY, PropertyType, is_sealed, is_secret, sealed


@transaction.atomic
def plugin_create(
    *,
    organisation: Organisation,
    plugin_type: str,
    group_id: str,
    artifact_id: str,
    name: str = "",
    user=None,
) -> Plugin:
    plugin = Plugin(
        organisation=organisation,
        plugin_type=plugin_type,
        group_id=group_id,
        artifact_id=artifact_id,
        name=name,
        created_by=user,
    )
    plugin.full_clean()
    plugin.save()
    audit.record("plugin.created", plugin, user=user)
    return plugin


@transaction.atomic
def plugin_rename(*, plugin: Plugin, name: str) -> Plugin:
    """Only the name changes: the type and coordinates identify the plugin."""
    changes = {"name": [plugin.name, name]}
    plugin.name = name
    plugin.full_clean()
    plugin.save(update_fields=["name"])
    audit.record("plugin.renamed", plugin, changes=changes)
    return plugin


@transaction.atomic
def plugin_version_create(
    *,
    plugin: Plugin,
    version_id: str,
    artifact: File | None = None,
    entry_point: str = "",
    properties: Iterable[dict] = (),
    user=None,
) -> PluginVersion:
    """Declare a version and its properties; its code comes with it or later, once."""
    version = PluginVersion(plugin=plugin, version_id=version_id, created_by=user)
    version.full_clean(exclude=["artifact"])
    declared = [PluginProperty(version=version, **fields) for fields in properties]
    _check_properties(declared)
    code = (
        inspect_artifact(artifact, entry_point, plugin.plugin_type)
        if artifact is not None
        else None
    )
    version.save()
    for prop in declared:
        prop.version = version
    for prop in declared:  # bulk_create skips save(): a SECRET is encrypted here
        prop.value = sealed(prop.property_type, prop.value)
    PluginProperty.objects.bulk_create(declared)
    if artifact is not None and code is not None:
        _store_code(version, artifact, code)
    audit.record("version.created", version, user=user, changes=_code_of(version))
    return version


@transaction.atomic
def plugin_version_upload_code(
    *, version: PluginVersion, artifact: File, entry_point: str = ""
) -> PluginVersion:
    """Give a version its code: checked, stored, and never replaced."""
    if version.has_code:
        raise _code_already_uploaded(version)
    _store_code(
        version, artifact, inspect_artifact(artifact, entry_point, version.plugin.plugin_type)
    )
    audit.record("version.code_uploaded", version, changes=_code_of(version))
    return version


def _code_of(version: PluginVersion) -> dict:
    if not version.has_code:
        return {}
    return {"code": [None, f"{version.artifact_name} sha256:{version.artifact_sha256}"]}


def _store_code(version: PluginVersion, artifact: File, code) -> None:
    version.artifact_sha256 = code.sha256  # names the file's folder (artifact_upload_path)
    stored_name = version.artifact.storage.save(
        version.artifact.field.generate_filename(version, code.name), artifact
    )
    # The conditional update is the guard against a concurrent upload: one wins.
    uploaded = PluginVersion.objects.filter(pk=version.pk, artifact_sha256="").update(
        artifact=stored_name,
        artifact_name=code.name,
        artifact_size=code.size,
        artifact_sha256=code.sha256,
        entry_point=code.entry_point,
    )
    if not uploaded:
        version.artifact.storage.delete(stored_name)
        version.refresh_from_db()
        raise _code_already_uploaded(version)
    version.refresh_from_db()


def _code_already_uploaded(version: PluginVersion) -> TransitionError:
    return TransitionError(
        f"Version {version.version_id} already has its code; publish a new version to change it.",
        code="code_already_uploaded",
    )


def _check_properties(declared: list[PluginProperty]) -> None:
    """Each property valid and named once; errors keyed by position, as a client sent them."""
    errors = {}
    seen = set()
    for index, prop in enumerate(declared):
        try:
            prop.full_clean(exclude=["version"], validate_constraints=False)
            if prop.technical_name in seen:
                raise ValidationError({"technical_name": "Declared twice in this version."})
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors[f"plugin_properties[{index}].{field}"] = messages
        seen.add(prop.technical_name)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def plugin_property_add(*, version: PluginVersion, **fields) -> PluginProperty:
    prop = PluginProperty(version=version, **fields)
    prop.full_clean()
    prop.save()
    audit.record(
        "property.added",
        prop,
        name=_name_of(prop),
        changes=_property_change(prop, None, prop.value),
    )
    return prop


@transaction.atomic
def plugin_property_update(*, prop: PluginProperty, **changes) -> PluginProperty:
    """Change a property's default value or flags. Its name and type stay: instances
    hold values of that type under that name."""
    if fixed := set(changes) & {"technical_name", "property_type"}:
        raise ValidationError({name: "Fixed once declared." for name in fixed})
    if changes.get("writable") is False and prop.writable:
        overriding = prop.instance_overrides.values_list("instance__name", flat=True)
        if names := list(overriding[:5]):
            raise ValidationError(
                {
                    "writable": f"Instances override it ({', '.join(names)}): "
                    "remove their values first."
                }
            )
    before = audit.snapshot(prop, changes)
    for field, value in changes.items():
        setattr(prop, field, value)
    prop.full_clean()
    prop.save()
    changed = audit.changes_between(before, audit.snapshot(prop, changes))
    if "value" in changed:
        changed.update(_property_change(prop, before["value"], prop.value))
    audit.record("property.changed", prop, name=_name_of(prop), changes=changed)
    return prop


def _name_of(prop: PluginProperty) -> str:
    return f"{prop.version}: {prop.technical_name}"


def _property_change(prop: PluginProperty, before, after) -> dict:
    """The value's change as the trail shows it: a secret's only as set or cleared."""
    if not is_secret(prop.property_type):
        return {"value": [before, after]}
    return {"value": [None, audit.SECRET_SET if after else audit.SECRET_CLEARED]}


@transaction.atomic
def plugin_property_delete(*, prop: PluginProperty) -> None:
    prop.check_deletable()
    audit.record("property.deleted", prop, name=_name_of(prop))
    prop.delete()


@transaction.atomic
def plugin_delete(*, plugin: Plugin) -> None:
    """Delete a plugin and its versions, unless an instance still uses one."""
    in_use = plugin.versions.filter(instances__isnull=False).values_list("version_id", flat=True)
    if versions := sorted(set(in_use)):
        raise TransitionError(
            f"Versions {', '.join(versions)} are used by instances: archive them first.",
            code="in_use",
        )
    _delete_code_after_commit(plugin.versions.all())
    audit.record("plugin.deleted", plugin)
    plugin.delete()


@transaction.atomic
def plugin_version_delete(*, version: PluginVersion) -> None:
    if version.instances.exists():
        raise TransitionError(
            f"Version {version.version_id} is used by instances: move them to another version "
            "first.",
            code="in_use",
        )
    _delete_code_after_commit([version])
    audit.record("version.deleted", version)
    version.delete()


def _delete_code_after_commit(versions) -> None:
    """Stored code goes with its version, once the deletion is committed."""
    for version in versions:
        if version.has_code:
            transaction.on_commit(partial(version.artifact.storage.delete, version.artifact.name))


def batching_configuration_create(
    *, version: PluginVersion, enable_batching: bool, batch_flush_max_size: int
) -> BatchingConfiguration:
    if BatchingConfiguration.objects.filter(version=version).exists():
        raise TransitionError(
            "This version already has its batching configuration: change it instead.",
            code="already_exists",
        )
    return batching_configuration_set(
        version=version, enable_batching=enable_batching, batch_flush_max_size=batch_flush_max_size
    )


@transaction.atomic
def batching_configuration_set(
    *, version: PluginVersion, enable_batching: bool, batch_flush_max_size: int
) -> BatchingConfiguration:
    """Create or replace the version's batching configuration."""
    configuration = BatchingConfiguration.objects.filter(version=version).first()
    configuration = configuration or BatchingConfiguration(version=version)
    configuration.enable_batching = enable_batching
    configuration.batch_flush_max_size = batch_flush_max_size
    configuration.full_clean()
    configuration.save()
    audit.record(
        "batching.set",
        configuration,
        changes={
            "enable_batching": [None, enable_batching],
            "batch_flush_max_size": [None, batch_flush_max_size],
        },
    )
    return configuration


@transaction.atomic
def batching_configuration_delete(*, configuration: BatchingConfiguration) -> None:
    audit.record("batching.deleted", configuration)
    configuration.delete()


@transaction.atomic
def secrets_rotate() -> int:
    """Re-encrypt every SECRET property value (versions', instances', feeds') with the first
    key of BATCHWORKS_SECRETS_KEYS; returns how many. Rows are locked as they go, so a
    value set meanwhile is not overwritten with an older one."""
    from apps.feeds.models import AudienceSegmentExternalFeed
    from apps.scheduling.models import InstanceProperty

    count = 0
    for model, type_path in (
        (PluginProperty, "property_type"),
        (InstanceProperty, "property__property_type"),
    ):
        for row in model.objects.filter(**{type_path: PropertyType.SECRET}).select_for_update():
            if is_sealed(row.value):
                model.objects.filter(pk=row.pk).update(
                    value={SEALED_KEY: reseal(row.value[SEALED_KEY])}
                )
                count += 1
    for feed in AudienceSegmentExternalFeed.objects.select_for_update().exclude(properties={}):
        resealed = {
            name: {SEALED_KEY: reseal(value[SEALED_KEY])} if is_sealed(value) else value
            for name, value in feed.properties.items()
        }
        if resealed != feed.properties:
            count += sum(map(is_sealed, resealed.values()))
            AudienceSegmentExternalFeed.objects.filter(pk=feed.pk).update(properties=resealed)
    return count
