import pytest
from django.core.exceptions import ValidationError

from apps.plugins.models import PluginType
from apps.scheduling.models import (
    CronStatus,
    InstanceProperty,
    IntegrationBatchInstance,
    ResourceSize,
)
from apps.scheduling.services import instance_create, instance_update
from tests.factories import PROPERTIES, PluginFactory, make_instance, make_version

pytestmark = pytest.mark.django_db


def refusal(**kwargs) -> dict:
    with pytest.raises(ValidationError) as caught:
        make_instance(**kwargs)
    assert not IntegrationBatchInstance.objects.exists()
    return caught.value.message_dict


def test_sizes_default_to_low_and_an_instance_needs_no_cron():
    instance = make_instance()
    assert (instance.ram_size, instance.cpu_size, instance.disk_size) == (ResourceSize.LOW,) * 3
    assert (instance.cron, instance.cron_status) == ("", None)
    assert not instance.is_scheduled


def test_the_seed_cron_is_valid():
    instance = make_instance(cron="* * * 7 *", cron_status=CronStatus.ACTIVE)
    assert instance.is_scheduled


@pytest.mark.parametrize(
    ("cron", "reason"),
    [
        ("* * *", "A cron has 5 fields"),
        ("0 0 * * * *", "this one has 6"),
        ("61 * * * *", "is not a valid cron expression"),
        ("0 25 * * *", "is not a valid cron expression"),
        ("@daily", "A cron has 5 fields"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_an_invalid_cron_is_refused_saying_why(cron, reason):
    errors = refusal(cron=cron, cron_status=CronStatus.ACTIVE)
    assert reason in errors["cron"][0]


def test_an_unknown_time_zone_is_refused():
    errors = refusal(cron="0 2 * * *", cron_status="ACTIVE", cron_timezone="Mars/Olympus_Mons")
    assert errors == {
        "cron_timezone": [
            "Unknown time zone 'Mars/Olympus_Mons'; use an IANA name such as UTC or Europe/Paris."
        ]
    }


def test_a_cron_needs_a_cron_status_and_no_cron_has_none():
    assert refusal(cron="0 2 * * *")["cron_status"] == ["Required with a cron: ACTIVE or PAUSED."]
    assert refusal(cron_status="ACTIVE")["cron_status"] == [
        "Only an instance with a cron has a cron_status."
    ]


def test_the_seed_placeholder_status_is_not_a_status():
    assert "cron_status" in refusal(cron="0 2 * * *", cron_status="ACTIVE | PAUSED")


def test_an_unknown_size_is_refused():
    assert "ram_size" in refusal(ram_size="HUGE")


def test_writable_properties_are_overridden_and_checked():
    version = make_version(properties=PROPERTIES)
    instance = make_instance(version=version, properties={"batch_size": {"value": 250}})
    assert InstanceProperty.objects.get(instance=instance).value == {"value": 250}


def test_overriding_a_non_writable_property_is_refused_and_saves_nothing():
    version = make_version(properties=PROPERTIES)
    errors = refusal(version=version, properties={"provider": {"value": "other"}})
    assert errors == {
        "properties.provider": ["provider is not writable: an instance cannot override it."]
    }


def test_an_override_of_the_wrong_type_or_an_unknown_name_is_refused():
    version = make_version(properties=PROPERTIES)
    errors = refusal(
        version=version, properties={"batch_size": {"value": "many"}, "nope": {"value": 1}}
    )
    assert errors == {
        "properties.batch_size": ["'value' must be a 32-bit integer (type INT), got 'many'."],
        "properties.nope": ["Version 1.0.0 declares no property 'nope'."],
    }


def test_a_version_of_another_organisation_is_refused():
    version = make_version()
    with pytest.raises(ValidationError) as caught:
        instance_create(organisation=PluginFactory().organisation, version=version, name="x")
    assert caught.value.message_dict == {
        "version": ["This version belongs to another organisation."]
    }


def test_an_external_feed_version_cannot_be_an_instance():
    feed = make_version(plugin=PluginFactory(plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED))
    assert "INTEGRATION_BATCH" in refusal(version=feed)["version"][0]


def test_update_moves_overrides_to_a_new_version_of_the_same_names():
    version = make_version(properties=PROPERTIES)
    instance = make_instance(version=version, properties={"batch_size": {"value": 250}})
    newer = make_version(plugin=version.plugin, version_id="1.1.0", properties=PROPERTIES)
    instance_update(instance=instance, version=newer)
    override = InstanceProperty.objects.get(instance=instance)
    assert (override.property.version, override.value) == (newer, {"value": 250})


def test_update_to_a_version_without_the_overridden_property_is_refused():
    version = make_version(properties=PROPERTIES)
    instance = make_instance(version=version, properties={"batch_size": {"value": 250}})
    newer = make_version(plugin=version.plugin, version_id="2.0.0")
    with pytest.raises(ValidationError) as caught:
        instance_update(instance=instance, version=newer)
    assert "does not declare as writable" in caught.value.message_dict["version"][0]
    instance.refresh_from_db()
    assert instance.version == version


def test_update_removes_an_override_given_none():
    version = make_version(properties=PROPERTIES)
    instance = make_instance(version=version, properties={"batch_size": {"value": 250}})
    instance_update(instance=instance, properties={"batch_size": None})
    assert not InstanceProperty.objects.exists()
