"""SECRET properties: encrypted at rest, write-only on every surface, given to plugin code
in clear, masked in what the platform keeps of its output."""

import pytest
from cryptography.fernet import Fernet

from apps.core import secrets
from apps.plugins.models import PluginProperty
from apps.runner.logs import read_log
from apps.runner.services import execution_create_manual
from apps.runner.supervisor import run
from apps.scheduling.models import InstanceProperty
from apps.scheduling.services import instance_update
from tests.api.conftest import client_with_token
from tests.factories import PluginFactory, make_instance, make_version
from tests.runner.plugins import plugin

PASSWORD = "s3cr3t-partner-p4ss"
PROPERTIES = [
    {"technical_name": "sftp_password", "property_type": "SECRET", "value": {"value": ""}},
    {"technical_name": "host", "property_type": "STRING", "value": {"value": "sftp.example"}},
]
PRINTS_IT = plugin("""
password = context.properties.get("sftp_password")
print(f"connecting with {password}")
return {"used": password, "length": len(password)}
""")

pytestmark = pytest.mark.django_db


@pytest.fixture
def instance(world):
    version = make_version(
        plugin=PluginFactory(organisation=world.org_a), code=PRINTS_IT, properties=PROPERTIES
    )
    return make_instance(version=version, properties={"sftp_password": {"value": PASSWORD}})


def test_a_secret_is_stored_encrypted_and_only_shown_as_set(world, instance, client):
    stored = InstanceProperty.objects.get(instance=instance).value
    assert set(stored) == {"encrypted"} and PASSWORD not in str(stored)
    assert secrets.unseal(stored["encrypted"]) == PASSWORD

    admin = client_with_token(world.admin_a, world.org_a)
    shown = admin.get(f"/v1/integration_batch_instances/{instance.pk}").json()["data"]
    by_name = {p["technical_name"]: p["value"] for p in shown["properties"]}
    assert by_name["sftp_password"] == {"set": True}
    assert by_name["host"] == {"value": "sftp.example"}
    version = admin.get(
        f"/v1/plugins/{instance.version.plugin_id}/versions/{instance.version_id}/properties"
    ).json()["data"]
    assert {p["technical_name"]: p["value"] for p in version}["sftp_password"] == {"set": False}
    shown_again = admin.put(
        f"/v1/integration_batch_instances/{instance.pk}", shown, format="json"
    )  # a GET's body PUT back leaves the secret as it was
    assert shown_again.status_code == 200, shown_again.json()
    assert secrets.unseal(InstanceProperty.objects.get(instance=instance).value["encrypted"]) == (
        PASSWORD
    )

    client.force_login(world.admin_a)
    for page in (f"/instances/{instance.pk}/", f"/instances/{instance.pk}/edit"):
        text = client.get(page).text
        assert PASSWORD not in text and "encrypted" not in text
    assert "(set)" in client.get(f"/instances/{instance.pk}/").text
    assert PASSWORD not in client.get("/admin/scheduling/instanceproperty/").text
    stored = InstanceProperty.objects.get(instance=instance).value["encrypted"]
    change_page = client.get(f"/admin/scheduling/integrationbatchinstance/{instance.pk}/change/")
    assert stored not in change_page.text and "encrypted" not in change_page.text
    assert "&quot;set&quot;: true" in change_page.text


def test_plugin_code_gets_it_in_clear_and_the_log_and_result_mask_it(instance):
    execution = execution_create_manual(instance=instance)
    assert run(execution.pk) == "SUCCEEDED"
    execution.refresh_from_db()
    assert execution.result == {"used": "********", "length": len(PASSWORD)}
    log = read_log(execution.pk).text
    assert "connecting with ********" in log and PASSWORD not in log


def test_an_empty_form_field_keeps_the_secret_and_a_new_one_replaces_it(world, instance, client):
    client.force_login(world.editor_a)
    form = client.get(f"/instances/{instance.pk}/edit")
    assert 'type="password"' in form.text and "set for this instance" in form.text
    fields = {
        "name": instance.name,
        "version": instance.version_id,
        "cron": "",
        "cron_timezone": "UTC",
        "ram_size": "LOW",
        "cpu_size": "LOW",
        "disk_size": "LOW",
        "concurrency_policy": "ALLOW",
        "timeout_seconds": 3600,
        "max_retries": 0,
        "retry_backoff_seconds": 60,
        "property__host": "",
        "property__sftp_password": "",
    }
    client.post(f"/instances/{instance.pk}/edit", fields)
    kept = InstanceProperty.objects.get(instance=instance, property__technical_name="sftp_password")
    assert secrets.unseal(kept.value["encrypted"]) == PASSWORD
    client.post(f"/instances/{instance.pk}/edit", {**fields, "property__sftp_password": "new-one"})
    kept.refresh_from_db()
    assert secrets.unseal(kept.value["encrypted"]) == "new-one"


def test_keys_rotate_without_a_moment_when_secrets_cannot_be_read(instance, settings):
    old_key = settings.SECRETS_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.SECRETS_KEYS = [new_key, old_key]  # the new one first, the old one still read
    from django.core.management import call_command

    call_command("rotate_secrets")
    settings.SECRETS_KEYS = [new_key]  # the old one retired
    stored = InstanceProperty.objects.get(instance=instance).value["encrypted"]
    assert secrets.unseal(stored) == PASSWORD
    assert PluginProperty.objects.get(technical_name="sftp_password").value == {}

    settings.SECRETS_KEYS = [Fernet.generate_key().decode()]  # a key that never sealed it
    execution = execution_create_manual(instance=instance)
    assert run(execution.pk).startswith("FAILED: A secret cannot be decrypted")


def test_a_secret_value_of_the_wrong_shape_is_refused(instance):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="sftp_password"):
        instance_update(instance=instance, properties={"sftp_password": {"encrypted": "forged"}})


PRINTS_IT_IN_TWO = plugin("""
password = context.properties.get("sftp_password")
half = len(password) // 2
print(f"first {password[:half]}", end="", flush=True)
time.sleep(1.6)  # the supervisor stores the log every second: the halves land apart
print(f"{password[half:]} last", flush=True)
""")


def test_a_secret_printed_across_two_log_flushes_is_masked_too(world):
    version = make_version(
        plugin=PluginFactory(organisation=world.org_a), code=PRINTS_IT_IN_TWO, properties=PROPERTIES
    )
    instance = make_instance(version=version, properties={"sftp_password": {"value": PASSWORD}})
    execution = execution_create_manual(instance=instance)
    assert run(execution.pk) == "SUCCEEDED"
    log = read_log(execution.pk).text
    assert "first ******** last" in log and PASSWORD[: len(PASSWORD) // 2] not in log


def test_the_admin_saves_an_instance_without_touching_its_secret(world, instance, client):
    client.force_login(world.admin_a)
    override = InstanceProperty.objects.get(instance=instance)
    url = f"/admin/scheduling/integrationbatchinstance/{instance.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if name in form.fields and value is not None
    }
    data.update(
        {
            "version": instance.version_id,
            "name": "Renamed",
            "property_overrides-TOTAL_FORMS": 1,
            "property_overrides-INITIAL_FORMS": 1,
            "property_overrides-0-id": override.pk,
            "property_overrides-0-instance": instance.pk,
            "property_overrides-0-property": override.property_id,
            "property_overrides-0-value": '{"set": true}',
            "events-TOTAL_FORMS": 0,
            "events-INITIAL_FORMS": 0,
            "_save": "Save",
        }
    )
    answer = client.post(url, data)
    assert answer.status_code == 302, [
        (f.formset.prefix, f.formset.errors, f.formset.non_form_errors())
        for f in answer.context["inline_admin_formsets"]
    ]
    instance.refresh_from_db()
    assert instance.name == "Renamed"
    kept = InstanceProperty.objects.get(pk=override.pk)
    assert secrets.unseal(kept.value["encrypted"]) == PASSWORD
