"""The admin, as members of different organisations and roles use it."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import ApiToken, Membership, Organisation
from apps.accounts.services import api_token_authenticate, api_token_create
from apps.ingestion.models import Batch, Dataset
from apps.ingestion.services import batch_create, dataset_create
from apps.plugins.models import (
    BatchingConfiguration,
    Plugin,
    PluginProperty,
    PluginType,
    PluginVersion,
)
from apps.runner.services import execution_create_manual
from apps.scheduling.models import (
    CronStatus,
    Execution,
    ExecutionStatus,
    InstanceProperty,
    IntegrationBatchInstance,
)
from tests.factories import (
    PLUGIN_CODE,
    ExecutionFactory,
    PluginFactory,
    make_instance,
    make_version,
)

pytestmark = pytest.mark.django_db

PROPERTIES = [{"technical_name": "batch_size", "property_type": "INT", "value": {"value": 1}}]


def populate(organisation, user, count=1):
    """`count` of every kind of object in `organisation` (each instance with its coming
    CRON run and a MANUAL one); returns one of each."""
    made = {}
    for _ in range(count):
        plugin = PluginFactory(organisation=organisation)
        version = make_version(plugin=plugin, properties=PROPERTIES)
        feed = make_version(
            plugin=PluginFactory(
                organisation=organisation, plugin_type=PluginType.AUDIENCE_SEGMENT_EXTERNAL_FEED
            )
        )
        instance = make_instance(
            version=version,
            cron="0 2 * * *",
            cron_status=CronStatus.ACTIVE,
            properties={"batch_size": {"value": 5}},
        )
        token, _ = api_token_create(organisation=organisation, user=user, name="ci")
        dataset = dataset_create(
            organisation=organisation,
            name=f"orders {Dataset.objects.count()}",
            schema=[{"name": "id", "type": "Long", "required": True}],
        )
        made = {
            Plugin: plugin,
            PluginVersion: version,
            PluginProperty: version.properties.get(),
            BatchingConfiguration: BatchingConfiguration.objects.create(
                version=feed, enable_batching=True, batch_flush_max_size=10
            ),
            IntegrationBatchInstance: instance,
            InstanceProperty: instance.property_overrides.get(),
            Execution: execution_create_manual(instance=instance, user=user),
            ApiToken: token,
            Dataset: dataset,
            Batch: batch_create(dataset=dataset, user=user),
            Membership: Membership.objects.filter(organisation=organisation).first(),
        }
    return made


def admin_url(model, action="changelist", *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}", args=args)


SCOPED_MODELS = [
    Dataset,
    Batch,
    Plugin,
    PluginVersion,
    PluginProperty,
    BatchingConfiguration,
    IntegrationBatchInstance,
    InstanceProperty,
    Execution,
    ApiToken,
    Membership,
]


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m.__name__)
def test_a_member_lists_and_opens_only_their_organisations_objects(client, world, model):
    own = populate(world.org_a, world.admin_a)[model]
    foreign = populate(world.org_b, world.admin_b)[model]
    client.force_login(world.admin_a)

    listing = client.get(admin_url(model))
    assert listing.status_code == 200
    shown = {obj.pk for obj in listing.context["cl"].result_list}
    assert own.pk in shown and foreign.pk not in shown

    assert client.get(admin_url(model, "change", own.pk)).status_code == 200
    response = client.get(admin_url(model, "change", foreign.pk))
    assert response.status_code == 302 and response.url == reverse("admin:index")
    # Models never deleted by hand answer 403 before looking; the others cannot find it.
    assert client.post(admin_url(model, "delete", foreign.pk), {"post": "yes"}).status_code in (
        302,
        403,
    )
    assert model.objects.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize("model", [*SCOPED_MODELS, Organisation], ids=lambda m: m.__name__)
def test_no_filter_names_what_another_organisation_holds(client, world, model):
    populate(world.org_a, world.admin_a)
    foreign = populate(world.org_b, world.admin_b)
    client.force_login(world.admin_a)
    page = client.get(admin_url(model)).text
    assert "Org B" not in page
    assert foreign[Plugin].artifact_id not in page and foreign[Dataset].name not in page


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (PluginProperty, "version"),
        (BatchingConfiguration, "version"),
        (InstanceProperty, "instance"),
        (InstanceProperty, "property"),
    ],
)
def test_an_autocomplete_offers_only_the_users_organisations(client, world, model, field):
    own = populate(world.org_a, world.admin_a)
    foreign = populate(world.org_b, world.admin_b)
    client.force_login(world.admin_a)
    answer = client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": model._meta.app_label,
            "model_name": model._meta.model_name,
            "field_name": field,
        },
    ).json()
    offered = {int(result["id"]) for result in answer["results"]}
    target = {
        "version": PluginVersion,
        "instance": IntegrationBatchInstance,
        "property": PluginProperty,
    }[field]
    theirs = set(target.objects.in_organisations([world.org_b.pk]).values_list("pk", flat=True))
    assert offered and not offered & theirs
    assert own and foreign  # both organisations hold some


def test_a_superuser_sees_every_organisation(client, world):
    populate(world.org_a, world.admin_a)
    populate(world.org_b, world.admin_b)
    client.force_login(world.superuser)
    response = client.get(admin_url(IntegrationBatchInstance))
    assert {i.organisation for i in response.context["cl"].result_list} == {
        world.org_a,
        world.org_b,
    }


def test_actions_on_another_organisations_instance_do_nothing(client, world):
    foreign = populate(world.org_b, world.admin_b)[IntegrationBatchInstance]
    client.force_login(world.admin_a)
    client.post(
        admin_url(IntegrationBatchInstance), {"action": "pause", "_selected_action": [foreign.pk]}
    )
    foreign.refresh_from_db()
    assert foreign.cron_status == CronStatus.ACTIVE


def test_pause_and_run_now_actions_go_through_the_services(client, world):
    instance = populate(world.org_a, world.admin_a)[IntegrationBatchInstance]
    coming = instance.executions.get(execution_type="CRON")
    client.force_login(world.editor_a)

    response = client.post(
        admin_url(IntegrationBatchInstance),
        {"action": "pause", "_selected_action": [instance.pk]},
        follow=True,
    )
    assert "Paused: 1." in response.text
    instance.refresh_from_db()
    coming.refresh_from_db()
    assert (instance.cron_status, coming.status) == (CronStatus.PAUSED, ExecutionStatus.CANCELED)
    assert instance.events.last().user == world.editor_a

    response = client.post(
        admin_url(IntegrationBatchInstance),
        {"action": "pause", "_selected_action": [instance.pk]},
        follow=True,
    )
    assert (
        "Refused — Nightly import: Only an ACTIVE scheduled instance can be paused" in response.text
    )

    client.post(
        admin_url(IntegrationBatchInstance),
        {"action": "run_now", "_selected_action": [instance.pk]},
    )
    assert instance.executions.filter(execution_type="MANUAL", user=world.editor_a).count() == 1


def test_cancel_action_cancels_a_pending_execution(client, world):
    execution = populate(world.org_a, world.admin_a)[Execution]
    client.force_login(world.editor_a)
    client.post(admin_url(Execution), {"action": "cancel", "_selected_action": [execution.pk]})
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELED
    assert execution.status_changes.last().user == world.editor_a


def test_a_reader_sees_but_cannot_change_anything(client, world):
    instance = populate(world.org_a, world.admin_a)[IntegrationBatchInstance]
    client.force_login(world.reader_a)
    assert client.get(admin_url(IntegrationBatchInstance)).status_code == 200
    assert client.get(admin_url(IntegrationBatchInstance, "add")).status_code == 403
    assert (
        client.post(
            admin_url(IntegrationBatchInstance, "change", instance.pk), {"name": "x"}
        ).status_code
        == 403
    )
    response = client.post(
        admin_url(IntegrationBatchInstance),
        {"action": "pause", "_selected_action": [instance.pk]},
        follow=True,
    )
    assert "your role does not allow it" in response.text
    instance.refresh_from_db()
    assert (instance.name, instance.cron_status) == ("Nightly import", CronStatus.ACTIVE)


def test_an_editor_cannot_manage_members_or_tokens(client, world):
    client.force_login(world.editor_a)
    assert client.get(admin_url(Membership, "add")).status_code == 403
    assert client.get(admin_url(ApiToken, "add")).status_code == 403


def test_add_forms_offer_only_the_users_organisations(client, world):
    populate(world.org_b, world.admin_b)
    version_a = populate(world.org_a, world.admin_a)[PluginVersion]
    client.force_login(world.editor_a)
    form = client.get(admin_url(IntegrationBatchInstance, "add")).context["adminform"].form
    assert list(form.fields["organisation"].queryset) == [world.org_a]
    assert {v.plugin.organisation for v in form.fields["version"].queryset} == {world.org_a}
    assert version_a in form.fields["version"].queryset


def test_creating_an_instance_for_another_organisation_is_refused(client, world):
    version_b = populate(world.org_b, world.admin_b)[PluginVersion]
    client.force_login(world.editor_a)
    before = IntegrationBatchInstance.objects.count()
    response = client.post(
        admin_url(IntegrationBatchInstance, "add"),
        {
            "organisation": world.org_b.pk,
            "version": version_b.pk,
            "name": "Intruder",
            "cron_timezone": "UTC",
            "ram_size": "LOW",
            "cpu_size": "LOW",
            "disk_size": "LOW",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    assert IntegrationBatchInstance.objects.count() == before


def test_an_instance_created_in_the_admin_is_validated_inline(client, world):
    version = populate(world.org_a, world.admin_a)[PluginVersion]
    client.force_login(world.editor_a)
    response = client.post(
        admin_url(IntegrationBatchInstance, "add"),
        {
            "organisation": world.org_a.pk,
            "version": version.pk,
            "name": "Bad cron",
            "cron": "61 * * * *",
            "cron_status": "ACTIVE",
            "cron_timezone": "UTC",
            "ram_size": "LOW",
            "cpu_size": "LOW",
            "disk_size": "LOW",
        },
    )
    assert "is not a valid cron expression" in response.text
    assert not IntegrationBatchInstance.objects.filter(name="Bad cron").exists()


def test_an_admin_issues_a_token_shown_once(client, world):
    client.force_login(world.admin_a)
    response = client.post(
        admin_url(ApiToken, "add"),
        {"organisation": world.org_a.pk, "username": world.reader_a.username, "name": "reporting"},
        follow=True,
    )
    raw = next(
        m.message for m in response.context["messages"] if "copy it now" in m.message
    ).split()[4]
    assert api_token_authenticate(raw).user == world.reader_a
    token = ApiToken.objects.get(name="reporting")
    assert raw not in client.get(admin_url(ApiToken, "change", token.pk)).text


def test_a_token_for_a_non_member_is_refused_inline(client, world):
    client.force_login(world.admin_a)
    response = client.post(
        admin_url(ApiToken, "add"),
        {"organisation": world.org_a.pk, "username": world.admin_b.username, "name": "x"},
    )
    assert "is not a member of Org A" in response.text
    assert not ApiToken.objects.exists()


def test_a_version_is_published_by_upload_and_bad_code_is_refused_inline(client, world):
    plugin = PluginFactory(organisation=world.org_a)
    client.force_login(world.editor_a)
    formset = {"properties-TOTAL_FORMS": 0, "properties-INITIAL_FORMS": 0}
    bad = client.post(
        admin_url(PluginVersion, "add"),
        {
            "plugin": plugin.pk,
            "version_id": "1.0.0",
            "artifact": SimpleUploadedFile("job.py", b"def broken(:\n"),
            **formset,
        },
    )
    assert "job.py, line 1" in bad.text
    assert not PluginVersion.objects.exists()

    client.post(
        admin_url(PluginVersion, "add"),
        {
            "plugin": plugin.pk,
            "version_id": "1.0.0",
            "artifact": SimpleUploadedFile("job.py", PLUGIN_CODE),
            **formset,
        },
    )
    version = PluginVersion.objects.get()
    assert (version.entry_point, version.artifact_size, version.created_by) == (
        "job",
        len(PLUGIN_CODE),
        world.editor_a,
    )
    download = client.get(reverse("admin:plugins_pluginversion_artifact", args=[version.pk]))
    assert b"".join(download.streaming_content) == PLUGIN_CODE


def test_the_code_of_another_organisation_cannot_be_downloaded(client, world):
    version_b = populate(world.org_b, world.admin_b)[PluginVersion]
    client.force_login(world.admin_a)
    assert (
        client.get(reverse("admin:plugins_pluginversion_artifact", args=[version_b.pk])).status_code
        == 404
    )


def test_a_manual_execution_in_the_past_is_refused_inline(client, world):
    instance = populate(world.org_a, world.admin_a)[IntegrationBatchInstance]
    client.force_login(world.editor_a)
    before = Execution.objects.count()
    response = client.post(
        admin_url(Execution, "add"),
        {
            "instance": instance.pk,
            "expected_start_date_0": "2020-01-01",
            "expected_start_date_1": "10:00:00",
            "parameters": "{}",
        },
    )
    assert "is in the past" in response.text
    assert Execution.objects.count() == before


def test_a_manual_execution_is_created_from_the_admin(client, world):
    instance = populate(world.org_a, world.admin_a)[IntegrationBatchInstance]
    client.force_login(world.editor_a)
    client.post(
        admin_url(Execution, "add"), {"instance": instance.pk, "parameters": '{"rows": 10}'}
    )
    execution = Execution.objects.filter(parameters={"rows": 10}).get()
    assert (execution.execution_type, execution.user) == ("MANUAL", world.editor_a)


def test_a_non_deletable_property_is_not_deleted(client, world):
    version = make_version(
        plugin=PluginFactory(organisation=world.org_a),
        properties=[{"technical_name": "provider", "property_type": "STRING", "deletable": False}],
    )
    prop = version.properties.get()
    client.force_login(world.admin_a)
    assert client.get(admin_url(PluginProperty, "delete", prop.pk)).status_code == 403
    assert PluginProperty.objects.filter(pk=prop.pk).exists()


ALL_MODELS = [*SCOPED_MODELS]


def changelist_queries(client, model) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(admin_url(model)).status_code == 200
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("as_superuser", [False, True], ids=["member", "superuser"])
@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelists_run_the_same_queries_for_3_or_15_rows(client, world, model, as_superuser):
    client.force_login(world.superuser if as_superuser else world.admin_a)
    populate(world.org_a, world.admin_a, count=3)
    few = changelist_queries(client, model)
    populate(world.org_a, world.admin_a, count=12)
    many = changelist_queries(client, model)
    assert len(few) == len(many), "\n".join(many)


def test_a_long_list_is_counted_only_up_to_the_limit(client, world, settings):
    settings.ADMIN_COUNT_LIMIT = 5
    instance = make_instance()
    for day in range(8):
        ExecutionFactory(
            instance=instance, expected_start_date=timezone.now() + timezone.timedelta(days=day)
        )
    client.force_login(world.superuser)
    response = client.get(admin_url(Execution))
    assert "More than 5 executions" in response.text
    counts = [sql for sql in changelist_queries(client, Execution) if "COUNT(" in sql.upper()]
    assert counts and all("LIMIT 6" in sql for sql in counts)


def test_a_member_of_two_organisations_filters_by_either(client, world):
    populate(world.org_a, world.admin_a)
    populate(world.org_b, world.admin_b)
    Membership.objects.create(user=world.admin_a, organisation=world.org_b, role="READER")
    third = Organisation.objects.create(name="Org C, not theirs")
    Membership.objects.create(user=world.superuser, organisation=third, role="ADMIN")
    populate(third, world.superuser)
    client.force_login(world.admin_a)
    page = client.get(admin_url(PluginVersion)).text
    assert "Org A" in page and "Org B" in page and "Org C" not in page


def test_the_admin_keeps_an_organisations_last_admin(client, world):
    """Through the membership services, as the API does: not by saving the row itself."""
    client.force_login(world.admin_a)
    last = Membership.objects.get(user=world.admin_a, organisation=world.org_a)
    response = client.post(admin_url(Membership, "change", last.pk), {"role": "READER"})
    assert response.status_code == 302
    client.post(admin_url(Membership, "delete", last.pk), {"post": "yes"})
    last.refresh_from_db()
    assert last.role == "ADMIN"


def test_a_property_edited_inline_follows_the_services_rules(client, world):
    instance = make_instance(
        version=make_version(plugin=PluginFactory(organisation=world.org_a), properties=PROPERTIES),
        properties={"batch_size": {"value": 5}},
    )
    prop = instance.version.properties.get()
    client.force_login(world.editor_a)
    client.post(
        admin_url(PluginVersion, "change", instance.version_id),
        {
            "properties-TOTAL_FORMS": "1",
            "properties-INITIAL_FORMS": "1",
            "properties-0-id": prop.pk,
            "properties-0-version": instance.version_id,
            "properties-0-technical_name": "batch_size",
            "properties-0-property_type": "INT",
            "properties-0-value": '{"value": 1}',
            "properties-0-origin": "PLUGIN",
            "properties-0-deletable": "on",
        },  # writable unticked, while the instance overrides it
    )
    prop.refresh_from_db()
    assert prop.writable  # refused: instances override it


@pytest.mark.parametrize("who", ["admin_a", "superuser"])
def test_instances_offer_only_the_actions_that_can_succeed(client, world, who):
    """An instance is archived, never deleted: "Delete selected" was offered, then refused."""
    populate(world.org_a, world.admin_a)
    client.force_login(getattr(world, who))
    actions = client.get(admin_url(IntegrationBatchInstance)).context["action_form"]
    offered = {value for value, _ in actions.fields["action"].choices}
    assert offered == {"", "pause", "resume", "run_now", "archive", "restore"}


def test_an_execution_is_named_by_its_instance_and_admin_pages_have_the_icon(client, world):
    instance = populate(world.org_a, world.admin_a)[IntegrationBatchInstance]
    execution = execution_create_manual(instance=instance)
    client.force_login(world.admin_a)
    page = client.get(reverse("admin:scheduling_execution_change", args=[execution.pk])).text
    assert f"Execution {execution.pk} of {instance.name} (PENDING)" in page
    assert 'rel="icon" href="/static/favicon.svg"' in page


def test_an_archive_is_undone_by_the_restore_action(client, world):
    instance = populate(world.org_a, world.admin_a)[IntegrationBatchInstance]
    client.force_login(world.editor_a)
    for action in ("archive", "restore"):
        client.post(
            admin_url(IntegrationBatchInstance),
            {"action": action, "_selected_action": [instance.pk]},
        )
        instance.refresh_from_db()
        assert instance.archived == (action == "archive")
    assert list(instance.events.values_list("action", flat=True).order_by("pk"))[-2:] == [
        "ARCHIVED",
        "RESTORED",
    ]
