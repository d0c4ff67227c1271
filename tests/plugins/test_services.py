from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from apps.core.errors import TransitionError
from apps.plugins.models import (
    BatchingConfiguration,
    Plugin,
    PluginProperty,
    PluginType,
    PluginVersion,
)
from apps.plugins.services import (
    batching_configuration_set,
    plugin_create,
    plugin_property_delete,
    plugin_version_create,
    plugin_version_upload_code,
)
from tests.factories import (
    PLUGIN_CODE,
    OrganisationFactory,
    PluginFactory,
    make_instance,
    make_version,
)

pytestmark = pytest.mark.django_db

SEED_PROPERTIES = [
    {
        "technical_name": "one_more_property",
        "value": {"value": ""},
        "property_type": "STRING",
        "origin": "PLUGIN",
        "writable": True,
        "deletable": True,
    },
    {
        "technical_name": "provider",
        "value": {"value": "mediarithmics"},
        "property_type": "STRING",
        "origin": "PLUGIN_STATIC",
        "writable": False,
        "deletable": False,
    },
]


def create_plugin(organisation, **overrides):
    fields = {
        "plugin_type": "INTEGRATION_BATCH",
        "group_id": "com.my-client.integration_batch",
        "artifact_id": "integration-batch-my-client",
        **overrides,
    }
    return plugin_create(organisation=organisation, **fields)


def test_the_seed_plugin_is_created():
    plugin = create_plugin(OrganisationFactory())
    assert Plugin.objects.get(pk=plugin.pk).plugin_type == PluginType.INTEGRATION_BATCH


def test_duplicate_coordinates_in_one_organisation_are_refused_on_artifact_id():
    organisation = OrganisationFactory()
    create_plugin(organisation)
    with pytest.raises(ValidationError) as caught:
        create_plugin(organisation)
    assert caught.value.message_dict == {
        "artifact_id": [
            "This organisation already has a plugin with this group_id and artifact_id."
        ]
    }
    assert Plugin.objects.count() == 1


def test_the_same_coordinates_in_another_organisation_are_allowed():
    create_plugin(OrganisationFactory())
    create_plugin(OrganisationFactory())
    assert Plugin.objects.count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("group_id", "com example"),
        ("artifact_id", "-starts-with-dash"),
        ("plugin_type", "CRON_JOB"),
    ],
)
def test_bad_plugin_fields_are_refused_by_name(field, value):
    with pytest.raises(ValidationError) as caught:
        create_plugin(OrganisationFactory(), **{field: value})
    assert list(caught.value.message_dict) == [field]
    assert not Plugin.objects.exists()


def test_a_version_stores_its_code_with_checksum_and_properties():
    version = make_version(version_id="1.0.0", properties=SEED_PROPERTIES)
    version.refresh_from_db()
    assert version.artifact.read() == PLUGIN_CODE
    assert version.artifact_size == len(PLUGIN_CODE)
    assert len(version.artifact_sha256) == 64
    assert version.entry_point == "plugin"
    assert sorted(version.properties.values_list("technical_name", "writable")) == [
        ("one_more_property", True),
        ("provider", False),
    ]


@pytest.mark.parametrize("version_id", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "latest"])
def test_a_version_id_that_is_not_semver_is_refused(version_id):
    with pytest.raises(ValidationError) as caught:
        make_version(version_id=version_id)
    assert "semantic version" in caught.value.message_dict["version_id"][0]
    assert not PluginVersion.objects.exists()


def test_prerelease_and_build_versions_are_semver():
    assert make_version(version_id="2.1.0-beta.1+build.7").version_id == "2.1.0-beta.1+build.7"


def test_a_version_id_is_unique_within_its_plugin():
    plugin = PluginFactory()
    make_version(plugin=plugin, version_id="1.0.0")
    with pytest.raises(ValidationError) as caught:
        make_version(plugin=plugin, version_id="1.0.0")
    assert caught.value.message_dict == {
        "version_id": ["This plugin already has a version with this version_id."]
    }


def test_a_property_value_of_the_wrong_type_refuses_the_whole_version():
    properties = [
        *SEED_PROPERTIES,
        {"technical_name": "rows", "property_type": "INT", "value": {"value": "ten"}},
    ]
    with pytest.raises(ValidationError) as caught:
        make_version(properties=properties)
    assert caught.value.message_dict == {
        "plugin_properties[2].value": ["'value' must be a 32-bit integer (type INT), got 'ten'."]
    }
    assert not PluginVersion.objects.exists()
    assert not PluginProperty.objects.exists()


def test_a_property_declared_twice_is_refused():
    with pytest.raises(ValidationError) as caught:
        make_version(properties=[SEED_PROPERTIES[0], SEED_PROPERTIES[0]])
    assert caught.value.message_dict == {
        "plugin_properties[1].technical_name": ["Declared twice in this version."]
    }


def test_a_non_python_artifact_refuses_the_version():
    with pytest.raises(ValidationError) as caught:
        plugin_version_create(
            plugin=PluginFactory(), version_id="1.0.0", artifact=ContentFile(b"x", name="x.jar")
        )
    assert "artifact" in caught.value.message_dict
    assert not PluginVersion.objects.exists()


def test_a_published_version_cannot_be_changed():
    version = make_version()
    version.entry_point = "other"
    with pytest.raises(ValidationError):
        version.save()
    version.refresh_from_db()
    assert version.entry_point == "plugin"


def test_a_property_not_deletable_stays():
    version = make_version(properties=SEED_PROPERTIES)
    provider = version.properties.get(technical_name="provider")
    with pytest.raises(ValidationError):
        plugin_property_delete(prop=provider)
    plugin_property_delete(prop=version.properties.get(technical_name="one_more_property"))
    assert list(version.properties.values_list("technical_name", flat=True)) == ["provider"]


def test_batching_configures_external_feed_versions():
    feed = make_version(plugin=PluginFactory(plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED))
    batching_configuration_set(version=feed, enable_batching=True, batch_flush_max_size=5000)
    batching_configuration_set(version=feed, enable_batching=False, batch_flush_max_size=100)
    configuration = BatchingConfiguration.objects.get(version=feed)
    assert (configuration.enable_batching, configuration.batch_flush_max_size) == (False, 100)


def test_batching_is_refused_on_an_integration_batch_version():
    with pytest.raises(ValidationError) as caught:
        batching_configuration_set(
            version=make_version(), enable_batching=True, batch_flush_max_size=10
        )
    assert (
        "only available for plugins of type AUDIENCE_SEGMENT_EXTERNAL_FEED"
        in caught.value.message_dict["version"][0]
    )
    assert not BatchingConfiguration.objects.exists()


@pytest.mark.parametrize("size", [0, 1_000_001])
def test_batch_flush_max_size_out_of_range_is_refused(size):
    feed = make_version(plugin=PluginFactory(plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED))
    with pytest.raises(ValidationError) as caught:
        batching_configuration_set(version=feed, enable_batching=True, batch_flush_max_size=size)
    assert list(caught.value.message_dict) == ["batch_flush_max_size"]


def test_a_version_declared_without_code_gets_it_once():
    version = plugin_version_create(
        plugin=PluginFactory(), version_id="1.0.0", properties=SEED_PROPERTIES
    )
    assert not version.has_code
    with pytest.raises(ValidationError) as caught:
        make_instance(version=version)
    assert caught.value.message_dict == {
        "version": ["Version 1.0.0 has no code yet: upload it before running it."]
    }

    plugin_version_upload_code(version=version, artifact=ContentFile(PLUGIN_CODE, name="job.py"))
    assert (version.has_code, version.entry_point, version.artifact.read()) == (
        True,
        "job",
        PLUGIN_CODE,
    )
    make_instance(version=version)

    folder = Path(version.artifact.path).parent.parent
    stored_before = sorted(folder.iterdir())
    with pytest.raises(TransitionError, match="already has its code; publish a new version"):
        plugin_version_upload_code(
            version=version, artifact=ContentFile(b"x = 2\n", name="other.py")
        )
    version.refresh_from_db()
    assert version.artifact.read() == PLUGIN_CODE
    assert sorted(folder.iterdir()) == stored_before  # the refused upload left no file
