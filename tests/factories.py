"""Factories for test data. Plugin versions and instances are made through their services,
as users make them, so tests never hold objects the product itself could not create."""

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.utils import timezone

from apps.accounts.models import Membership, Organisation, Role
from apps.plugins.models import Plugin, PluginType
from apps.plugins.services import plugin_version_create
from apps.scheduling.models import Execution, ExecutionStatus, ExecutionType
from apps.scheduling.services import instance_create

PLUGIN_CODE = b"""from batchworks_sdk import IntegrationBatchPlugin


class Plugin(IntegrationBatchPlugin):
    def run(self, context):
        return {"ok": True}
"""
FEED_PLUGIN_CODE = b"""from batchworks_sdk.feeds import AudienceFeedPlugin


class Feed(AudienceFeedPlugin):
    def on_user_segment_update(self, request):
        return {"status": "ok"}
"""


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "password")

    @factory.post_generation
    def save_password(user, create, extracted, **kwargs):
        if create:
            user.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.EDITOR


class PluginFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plugin

    organisation = factory.SubFactory(OrganisationFactory)
    plugin_type = PluginType.INTEGRATION_BATCH
    group_id = "com.example.integration_batch"
    artifact_id = factory.Sequence(lambda n: f"plugin-{n}")


# A static property no instance may override, and a writable one it may.
PROPERTIES = [
    {
        "technical_name": "provider",
        "property_type": "STRING",
        "value": {"value": "mediarithmics"},
        "origin": "PLUGIN_STATIC",
        "writable": False,
        "deletable": False,
    },
    {"technical_name": "batch_size", "property_type": "INT", "value": {"value": 100}},
]


def make_version(plugin=None, version_id="1.0.0", code=None, properties=(), **kwargs):
    """A version of `plugin` with code of its type (a feed plugin's, for a feed)."""
    plugin = plugin or PluginFactory()
    if code is None:
        feed = plugin.plugin_type == PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED
        code = FEED_PLUGIN_CODE if feed else PLUGIN_CODE
    return plugin_version_create(
        plugin=plugin,
        version_id=version_id,
        artifact=ContentFile(code, name="plugin.py"),
        properties=properties,
        **kwargs,
    )


def make_instance(version=None, name="Nightly import", **kwargs):
    version = version or make_version()
    return instance_create(
        organisation=version.plugin.organisation, version=version, name=name, **kwargs
    )


class ExecutionFactory(factory.django.DjangoModelFactory):
    """Rows as the scheduler would have left them (CRON by default)."""

    class Meta:
        model = Execution

    instance = factory.LazyFunction(make_instance)
    organisation = factory.LazyAttribute(lambda e: e.instance.organisation)
    execution_type = ExecutionType.CRON
    status = ExecutionStatus.PENDING
    expected_start_date = factory.LazyFunction(timezone.now)
