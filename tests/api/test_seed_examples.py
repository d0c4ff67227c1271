"""The public docs' examples (tests/api/seeds, copied from the seeds the product follows),
sent as printed, with only the host, the token and their placeholders filled in."""

import json
import re
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Role
from apps.accounts.services import api_token_create
from tests.api.operations import code_upload

pytestmark = pytest.mark.django_db

SEEDS = Path(__file__).parent / "seeds"
CURL = re.compile(
    r"curl -X (?P<method>\w+) \\\s+(?P<url>\S+) \\\s+(?P<headers>(?:-H '[^']*' \\\s+)+)"
    r"-d '(?P<body>.*?)(?:'\n|\n\n)",
    re.DOTALL,
)
FUTURE = 4_102_444_800_000


def examples() -> list[dict]:
    return [
        match.groupdict() for match in CURL.finditer((SEEDS / "integration_batch.txt").read_text())
    ]


class Replay:
    """Sends an example with its placeholders replaced."""

    def __init__(self, token: str, placeholders: dict[str, str]):
        self.client = APIClient()
        self.token = token
        self.placeholders = placeholders

    def send(self, example: dict, **more_placeholders: str):
        placeholders = {**self.placeholders, **more_placeholders, "<YOUR_API_TOKEN>": self.token}

        def filled(text: str) -> str:
            for placeholder, value in placeholders.items():
                text = text.replace(placeholder, value)
            return text

        authorization = re.search(r"-H 'Authorization: ([^']*)'", example["headers"]).group(1)
        return self.client.generic(
            example["method"],
            filled(example["url"]).replace("https://api.mediarithmics.com", ""),
            filled(example["body"]),
            content_type="application/json",
            HTTP_AUTHORIZATION=filled(authorization),
        )


def test_the_integration_batch_examples_work_as_the_docs_say(world):
    _, token = api_token_create(organisation=world.org_a, user=world.admin_a, name="docs")
    plugin_example, version_example, instance_example, execution_example = examples()
    replay = Replay(
        token, {"my_organisation_id": str(world.org_a.pk), "my-plugin-id": str(world.org_a.pk)}
    )

    plugin = replay.send(plugin_example)
    assert plugin.status_code == 201, plugin.content
    plugin_id = plugin.json()["data"]["id"]
    assert plugin.json()["data"]["artifact_id"] == "integration-batch-my-client"

    version = replay.send(version_example, **{"<PLUGIN_ID>": plugin_id})
    assert version.status_code == 201, version.content
    properties = version.json()["data"]["plugin_properties"]
    assert [(p["technical_name"], p["origin"], p["writable"]) for p in properties] == [
        ("one_more_property", "PLUGIN", True),
        ("provider", "PLUGIN_STATIC", False),
        ("name", "PLUGIN_STATIC", False),
    ]
    # The docs publish "the code of the script" with the version: here it is uploaded.
    code = APIClient().put(
        f"/v1/plugins/{plugin_id}/versions/1.0.0/code",
        code_upload(),
        format="multipart",
        HTTP_AUTHORIZATION=token,
    )
    assert code.status_code == 200, code.content

    as_printed = replay.send(instance_example, **{"my-version-id": "1.0.0"})
    assert as_printed.status_code == 400
    assert set(as_printed.json()["fields"]) == {"cron_status", "ram_size", "disk_size", "cpu_size"}
    filled = {
        "my-version-id": "1.0.0",
        "ACTIVE | PAUSED": "ACTIVE",
        "LOW | MEDIUM | LARGE | EXTRA_LARGE": "LOW",
    }
    instance = replay.send(instance_example, **filled)
    assert instance.status_code == 201, instance.content
    created = instance.json()["data"]
    assert (created["cron"], created["cron_status"], created["ram_size"]) == (
        "* * * 7 *",
        "ACTIVE",
        "LOW",
    )
    instance_id = created["id"]

    malformed = replay.send(execution_example, **{"<INSTANCE_ID>": instance_id})
    assert malformed.status_code == 400
    assert malformed.json()["error_code"] == "MALFORMED_REQUEST"
    assert "line 3 column 3" in malformed.json()["error"]

    fixed = repaired_json(execution_example["body"])
    fixed.update(
        organisation_id=str(world.org_a.pk),
        user_id=str(world.admin_a.pk),
        external_model_id=instance_id,
    )
    url = f"/v1/integration_batch_instances/{instance_id}/executions"
    in_2019 = replay.client.post(url, fixed, format="json", HTTP_AUTHORIZATION=token)
    assert in_2019.status_code == 400
    assert "is in the past" in in_2019.json()["fields"]["expected_start_date"][0]
    fixed["parameters"] = {"execution_type": "MANUAL", "expected_start_date": FUTURE}
    execution = replay.client.post(url, fixed, format="json", HTTP_AUTHORIZATION=token)
    assert execution.status_code == 201, execution.content
    data = execution.json()["data"]
    assert (data["execution_type"], data["status"], data["expected_start_date"]) == (
        "MANUAL",
        "PENDING",
        FUTURE,
    )
    assert (data["external_model_name"], data["job_type"], data["parameters"]) == (
        "PUBLIC_INTEGRATION_BATCH",
        "BATCH_INTEGRATION",
        {},
    )


def repaired_json(printed: str) -> dict:
    """The docs' execution body with its typos fixed: unquoted keys, a missing quote, a
    trailing comma."""
    text = re.sub(r"(\n\s*)(execution_type|expected_start_date):", r'\1"\2":', printed)
    text = text.replace('"external_model_id: "42"', '"external_model_id": "42"')
    text = re.sub(r",\s*}\s*$", "\n}", text.strip())
    text = text.replace('"MANUAL | CRON"', '"MANUAL"')
    return json.loads(text)


def test_the_batching_configuration_example_works_as_the_docs_say(world, api):
    from tests.api.conftest import content_of

    content = content_of(world.org_a, world.admin_a)
    documented = (SEEDS / "batching.txt").read_text()
    fields = [f.replace("\\", "") for f in re.findall(r"^\| ([\w\\]+)<mark", documented, re.M)]
    assert fields == ["plugin_version_id", "enable_batching", "batch_flush_max_size"]

    client = api(Role.EDITOR)
    feed, version = content.bare_feed_version.plugin_id, content.bare_feed_version.pk
    created = client.post(
        f"/v1/plugins/{feed}/versions/{version}/batching_configurations",
        {"plugin_version_id": str(version), "enable_batching": True, "batch_flush_max_size": 5000},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["data"]["batch_flush_max_size"] == 5000

    refused = client.post(
        f"/v1/plugins/{content.plugin.pk}/versions/{content.version.pk}/batching_configurations",
        {
            "plugin_version_id": str(content.version.pk),
            "enable_batching": True,
            "batch_flush_max_size": 10,
        },
        format="json",
    )
    assert refused.status_code == 400
    assert (
        "only available for plugins of type AUDIENCE_SEGMENT_EXTERNAL_FEED"
        in refused.json()["fields"]["plugin_version_id"][0]
    )
