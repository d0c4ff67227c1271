"""One table of roles (apps.accounts.permissions), held over every surface: for each action,
each role may do it through the API, the console and the admin alike, or through none."""

from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.accounts.models import ApiToken, Membership, Role
from apps.accounts.permissions import CHANGE_ROLES, change_role, view_role
from apps.ingestion.models import Dataset
from apps.plugins.models import Plugin, PluginVersion
from apps.plugins.services import plugin_version_create
from apps.scheduling.models import Execution, IntegrationBatchInstance
from tests.api.conftest import client_with_token
from tests.factories import PLUGIN_CODE, PluginFactory, UserFactory, make_instance, make_version

pytestmark = pytest.mark.django_db
SCHEMA = '[{"name": "id", "type": "Long", "required": true}]'


@dataclass
class Place:
    """What the actions act on, in the organisation of the user trying them."""

    organisation: object
    plugin: object
    version: object  # with code: instances can run it
    bare_version: object  # declared, no code yet
    instance: object
    outsider: object
    member: object


@pytest.fixture
def place(world) -> Place:
    plugin = PluginFactory(organisation=world.org_a)
    version = make_version(plugin=plugin)
    return Place(
        organisation=world.org_a,
        plugin=plugin,
        version=version,
        bare_version=plugin_version_create(plugin=plugin, version_id="2.0.0"),
        instance=make_instance(version=version),
        outsider=UserFactory(username="outsider"),
        member=world.editor_a,
    )


def code():
    return SimpleUploadedFile("job.py", PLUGIN_CODE)


def answered(response, surface: str) -> bool:
    """Whether the surface did it (True) or refused for the role (False). A page that
    shows its form again did not do it: console and admin changes end in a redirect."""
    if response.status_code == 403:
        return False
    done = (200, 201) if surface == "api" or response.request["REQUEST_METHOD"] == "GET" else (302,)
    assert response.status_code in done, (response.status_code, response.content[:800])
    return True


@dataclass(frozen=True)
class Action:
    name: str
    model: type
    api: object = None  # each: (client, place) -> response, or None where it has no surface
    console: object = None
    admin: object = None
    viewing: bool = False

    @property
    def role(self) -> Role:
        return view_role(self.model) if self.viewing else change_role(self.model)


ACTIONS = [
    Action(
        "declare a plugin",
        Plugin,
        api=lambda c, p: c.post(
            "/v1/plugins",
            {"plugin_type": "INTEGRATION_BATCH", "group_id": "com.acme", "artifact_id": "api"},
            format="json",
        ),
        console=lambda c, p: c.post(
            reverse("plugin_new"),
            {"plugin_type": "INTEGRATION_BATCH", "group_id": "com.acme", "artifact_id": "console"},
        ),
        admin=lambda c, p: c.post(
            reverse("admin:plugins_plugin_add"),
            {
                "organisation": p.organisation.pk,
                "plugin_type": "INTEGRATION_BATCH",
                "group_id": "com.acme",
                "artifact_id": "admin",
                "name": "",
            },
        ),
    ),
    Action(
        "publish a version's code",
        PluginVersion,
        api=lambda c, p: c.put(
            f"/v1/plugins/{p.plugin.pk}/versions/{p.bare_version.pk}/code",
            {"file": code()},
            format="multipart",
        ),
        console=lambda c, p: c.post(
            reverse("version_new", args=[p.plugin.pk]),
            {
                "version_id": "3.0.0",
                "code": code(),
                "properties-TOTAL_FORMS": "0",
                "properties-INITIAL_FORMS": "0",
            },
        ),
        admin=lambda c, p: c.post(
            reverse("admin:plugins_pluginversion_add"),
            {
                "plugin": p.plugin.pk,
                "version_id": "4.0.0",
                "artifact": code(),
                "properties-TOTAL_FORMS": "0",
                "properties-INITIAL_FORMS": "0",
            },
        ),
    ),
    Action(
        "create an instance",
        IntegrationBatchInstance,
        api=lambda c, p: c.post(
            "/v1/integration_batch_instances",
            {"name": "api", "plugin_version_id": str(p.version.pk)},
            format="json",
        ),
        console=lambda c, p: c.post(reverse("instance_new"), instance_form(p, "console")),
        admin=lambda c, p: c.post(
            reverse("admin:scheduling_integrationbatchinstance_add"),
            {**instance_form(p, "admin"), "organisation": p.organisation.pk},
        ),
    ),
    Action(
        "run an instance now",
        Execution,
        api=lambda c, p: c.post(
            f"/v1/integration_batch_instances/{p.instance.pk}/executions", {}, format="json"
        ),
        console=lambda c, p: c.post(reverse("instance_run", args=[p.instance.pk])),
        admin=lambda c, p: c.post(
            reverse("admin:scheduling_execution_add"),
            {"instance": p.instance.pk, "parameters": "{}"},
        ),
    ),
    Action(
        "create a dataset",
        Dataset,
        api=lambda c, p: c.post(
            "/v1/datasets",
            {"name": "api", "schema": [{"name": "id", "type": "Long"}]},
            format="json",
        ),
        console=lambda c, p: c.post(
            reverse("dataset_new"),
            {
                "name": "console",
                "description": "",
                "fields-TOTAL_FORMS": "1",
                "fields-INITIAL_FORMS": "0",
                "fields-0-name": "id",
                "fields-0-type": "Long",
            },
        ),
        admin=lambda c, p: c.post(
            reverse("admin:ingestion_dataset_add"),
            {"organisation": p.organisation.pk, "name": "admin", "schema": SCHEMA},
        ),
    ),
    Action(
        "add a member",
        Membership,
        api=lambda c, p: c.post(
            f"/v1/organisations/{p.organisation.pk}/members",
            {"username": p.outsider.username, "role": "READER"},
            format="json",
        ),
        admin=lambda c, p: c.post(
            reverse("admin:accounts_membership_add"),
            {"username": p.outsider.username, "organisation": p.organisation.pk, "role": "READER"},
        ),
    ),
    Action(
        "issue an API token",
        ApiToken,
        api=lambda c, p: c.post(
            f"/v1/organisations/{p.organisation.pk}/api_tokens", {"name": "ci"}, format="json"
        ),
        admin=lambda c, p: c.post(
            reverse("admin:accounts_apitoken_add"),
            {"organisation": p.organisation.pk, "username": p.member.username, "name": "ci"},
        ),
    ),
    Action(
        "see the API tokens",
        ApiToken,
        viewing=True,
        api=lambda c, p: c.get(f"/v1/organisations/{p.organisation.pk}/api_tokens"),
        admin=lambda c, p: c.get(reverse("admin:accounts_apitoken_changelist")),
    ),
]


def instance_form(place, name) -> dict:
    return {
        "name": name,
        "version": place.version.pk,
        "cron": "",
        "cron_timezone": "UTC",
        "cron_status": "",
        "ram_size": "LOW",
        "cpu_size": "LOW",
        "disk_size": "LOW",
        "concurrency_policy": "ALLOW",
        "timeout_seconds": "3600",
        "max_retries": "0",
        "retry_backoff_seconds": "60",
    }


SURFACES = ["api", "console", "admin"]


@pytest.mark.parametrize("role", list(Role), ids=str)
@pytest.mark.parametrize(
    ("action", "surface"),
    [(a, s) for a in ACTIONS for s in SURFACES if getattr(a, s)],  # the console has no members
    ids=lambda value: value if isinstance(value, str) else value.name,
)
def test_each_role_may_do_an_action_on_every_surface_or_on_none(
    client, world, place, action, role, surface
):
    attempt = getattr(action, surface)
    user = {Role.ADMIN: world.admin_a, Role.EDITOR: world.editor_a, Role.READER: world.reader_a}[
        role
    ]
    if surface == "api":
        caller = client_with_token(user, world.org_a)
    else:
        client.force_login(user)
        caller = client
    assert answered(attempt(caller, place), surface) == role.includes(action.role), (
        f"a {role} may {'' if role.includes(action.role) else 'not '}{action.name} "
        f"(needs {action.role}), through the {surface} too"
    )


def test_every_kind_of_object_has_its_role_in_the_table():
    from django.apps import apps

    from apps.core.models import OrganisationOwned

    owned = {
        model._meta.label_lower
        for model in apps.get_models()
        if issubclass(model, OrganisationOwned)
        and not model._meta.label_lower.endswith(
            ("statuschange", "event", "logchunk", "batchfile", "transferfile")  # parts of another
        )
    }
    assert owned <= set(CHANGE_ROLES), owned - set(CHANGE_ROLES)
