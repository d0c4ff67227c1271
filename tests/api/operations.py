"""Every operation of the API on an organisation's objects: the role it needs and what it
answers when allowed. URLs and bodies name objects of tests.api.conftest.Content."""

from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.accounts.models import Role
from tests.factories import PLUGIN_CODE

FUTURE = 4_102_444_800_000  # 2100-01-01, epoch milliseconds


@dataclass(frozen=True)
class Operation:
    method: str
    url: str
    role: Role
    status: int = 200
    body: dict = field(default_factory=dict)
    multipart: bool = False

    def __str__(self):
        return f"{self.method} {self.url}"

    def call(self, client, ids: dict):
        url = "/v1/" + self.url.format(**ids)
        if self.multipart:
            return getattr(client, self.method.lower())(url, code_upload(), format="multipart")
        body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in self.body.items()}
        return getattr(client, self.method.lower())(url, body or None, format="json")


def code_upload() -> dict:
    return {"file": SimpleUploadedFile("job.py", PLUGIN_CODE), "entry_point": "job:Plugin"}


ORGANISATION = "organisations/{org}"
PLUGIN = "plugins/{plugin}"
VERSION = "plugins/{plugin}/versions/{version}"
FEED = "plugins/{feed_plugin}/versions/{feed_version}"
INSTANCE = "integration_batch_instances/{instance}"

OPERATIONS = [
    Operation("GET", ORGANISATION, Role.READER),
    Operation("GET", f"{ORGANISATION}/members", Role.READER),
    Operation(
        "POST",
        f"{ORGANISATION}/members",
        Role.ADMIN,
        201,
        {"username": "{outsider}", "role": "READER"},
    ),
    Operation("PUT", f"{ORGANISATION}/members/{{member}}", Role.ADMIN, body={"role": "EDITOR"}),
    Operation("DELETE", f"{ORGANISATION}/members/{{member}}", Role.ADMIN),
    Operation("GET", f"{ORGANISATION}/api_tokens", Role.ADMIN),
    Operation("POST", f"{ORGANISATION}/api_tokens", Role.ADMIN, 201, {"name": "deploy"}),
    Operation("DELETE", f"{ORGANISATION}/api_tokens/{{token}}", Role.ADMIN),
    Operation("GET", PLUGIN, Role.READER),
    Operation("PUT", PLUGIN, Role.EDITOR, body={"name": "Renamed"}),
    Operation("DELETE", "plugins/{spare_plugin}", Role.EDITOR),
    Operation("GET", f"{PLUGIN}/versions", Role.READER),
    Operation("POST", f"{PLUGIN}/versions", Role.EDITOR, 201, {"version_id": "9.0.0"}),
    Operation("GET", VERSION, Role.READER),
    Operation("DELETE", f"{PLUGIN}/versions/{{spare_version}}", Role.EDITOR),
    Operation("GET", f"{VERSION}/code", Role.READER),
    Operation(
        "PUT", f"{PLUGIN}/versions/{{version_without_code}}/code", Role.ADMIN, multipart=True
    ),
    Operation("GET", f"{VERSION}/properties", Role.READER),
    Operation(
        "POST",
        f"{VERSION}/properties",
        Role.EDITOR,
        201,
        {"technical_name": "extra", "property_type": "BOOLEAN", "value": {"value": True}},
    ),
    Operation("GET", f"{VERSION}/properties/batch_size", Role.READER),
    Operation("PUT", f"{VERSION}/properties/batch_size", Role.EDITOR, body={"value": {"value": 5}}),
    Operation("DELETE", f"{VERSION}/properties/batch_size", Role.EDITOR),
    Operation("GET", f"{FEED}/batching_configurations", Role.READER),
    Operation(
        "POST",
        "plugins/{feed_plugin}/versions/{bare_feed_version}/batching_configurations",
        Role.EDITOR,
        201,
        {
            "plugin_version_id": "{bare_feed_version}",
            "enable_batching": True,
            "batch_flush_max_size": 100,
        },
    ),
    Operation("GET", f"{FEED}/batching_configurations/{{batching}}", Role.READER),
    Operation(
        "PUT",
        f"{FEED}/batching_configurations/{{batching}}",
        Role.EDITOR,
        body={
            "plugin_version_id": "{feed_version}",
            "enable_batching": False,
            "batch_flush_max_size": 50,
        },
    ),
    Operation("DELETE", f"{FEED}/batching_configurations/{{batching}}", Role.EDITOR),
    Operation("GET", INSTANCE, Role.READER),
    Operation("PUT", INSTANCE, Role.EDITOR, body={"cron_status": "PAUSED"}),
    Operation("DELETE", INSTANCE, Role.EDITOR),
    Operation("GET", f"{INSTANCE}/executions", Role.READER),
    Operation(
        "POST",
        f"{INSTANCE}/executions",
        Role.EDITOR,
        201,
        {"execution_type": "MANUAL", "expected_start_date": FUTURE},
    ),
    Operation("GET", f"{INSTANCE}/executions/{{execution}}", Role.READER),
    Operation(
        "PUT", f"{INSTANCE}/executions/{{execution}}", Role.EDITOR, body={"status": "CANCELED"}
    ),
    Operation("DELETE", f"{INSTANCE}/executions/{{execution}}", Role.EDITOR),
    Operation("GET", "executions/{execution}", Role.READER),
    Operation("POST", "executions/{execution}/cancel", Role.EDITOR),
    Operation("GET", "executions/{execution}/log", Role.READER),
]
