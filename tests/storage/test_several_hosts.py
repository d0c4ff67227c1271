"""Batchworks as several hosts: a web process and two workers, each with its own empty
data folder, and a scheduler, sharing nothing but PostgreSQL, Redis and an S3 bucket.
Through the web process's API: publish a version, run it by hand and on its cron, kill
the worker running a run (the other finishes the work), ingest a chunked upload and
export it. Afterwards no host holds anything on its disk but scratch space."""

import os
import signal

import pytest
import requests
from django.conf import settings as django_settings

from apps.accounts.services import api_token_create
from tests.processes import running, serving
from tests.runner.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]
CODE = b"""import time
from batchworks_sdk import IntegrationBatchPlugin


class Plugin(IntegrationBatchPlugin):
    def run(self, context):
        if context.attempt == 1 and context.parameters.get("sleep"):
            print("sleeping", flush=True)
            time.sleep(float(context.parameters["sleep"]))
        return {"attempt": context.attempt, "type": context.execution_type}
"""
CSV = b"email,age\n" + b"".join(f"user{n}@example.com,{n % 90}\n".encode() for n in range(5000))
# Where a host keeps what it must keep locally: its runs' and jobs' scratch folders.
SCRATCH = ("runs", "transfers")


def host(folder, shared: dict) -> dict:
    """The environment of one host: the shared services, and its own data folder."""
    folder.mkdir()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    own = {
        "BATCHWORKS_DATA_DIR": str(folder),
        f"BATCHWORKS_TEST_MEDIA_ROOT_{worker}": str(folder / "media"),
        f"BATCHWORKS_TEST_WORK_DIR_{worker}": str(folder / "runs"),
        f"BATCHWORKS_TEST_TRANSFER_DIR_{worker}": str(folder / "transfers"),
    }
    return {**shared, **own}


def test_web_and_two_worker_hosts_share_only_the_database_redis_and_a_bucket(
    bucket, world, tmp_path, settings
):
    shared = {
        **bucket.environment(),
        "BATCHWORKS_TASKS_BACKEND": "rq",
        "REDIS_URL": django_settings.REDIS_URL,
        "SECRET_KEY": django_settings.SECRET_KEY,  # what every host must be given alike
        "BATCHWORKS_SECRETS_KEYS": ",".join(django_settings.SECRETS_KEYS),
        "BATCHWORKS_LEASE_TIMEOUT_SECONDS": "3",
    }
    hosts = {name: host(tmp_path / name, shared) for name in ("web", "one", "two", "cron")}
    _, token = api_token_create(organisation=world.org_a, user=world.admin_a, name="hosts")
    org = str(world.org_a.pk)
    with (
        serving(**hosts["web"]) as (web, _),
        running("run_worker", **hosts["one"]) as one,
        running("run_worker", **hosts["two"]) as two,
        running("run_scheduler", "--interval", "0.5", **hosts["cron"]),
    ):
        api = requests.Session()
        api.headers["Authorization"] = token

        def call(method, path, **kwargs):
            answer = api.request(method, web + path, timeout=30, **kwargs)
            assert answer.status_code < 300, (path, answer.status_code, answer.text)
            return answer

        plugin = call(
            "POST",
            "/v1/plugins",
            json={
                "organisation_id": org,
                "plugin_type": "INTEGRATION_BATCH",
                "group_id": "com.example",
                "artifact_id": "across-hosts",
            },
        ).json()["data"]
        call("POST", f"/v1/plugins/{plugin['id']}/versions", json={"version_id": "1.0.0"})
        call(
            "PUT",
            f"/v1/plugins/{plugin['id']}/versions/1.0.0/code",
            files={"file": ("job.py", CODE)},
            data={"entry_point": "job:Plugin"},
        )
        instance = call(
            "POST",
            "/v1/integration_batch_instances",
            json={
                "group_id": "com.example",
                "artifact_id": "across-hosts",
                "version_id": "1.0.0",
                "organisation_id": org,
                "name": "Across hosts",
                "cron": "* * * * *",
                "cron_status": "ACTIVE",
                "ram_size": "LOW",
                "disk_size": "LOW",
                "cpu_size": "LOW",
                "max_retries": 1,
                "retry_backoff_seconds": 1,
            },
        ).json()["data"]
        executions = f"/v1/integration_batch_instances/{instance['id']}/executions"

        def execution(pk):
            return call("GET", f"/v1/executions/{pk}").json()["data"]

        def ended(pk):
            found = execution(pk)
            return found if found["status"] in ("SUCCEEDED", "FAILED", "CANCELED") else None

        by_hand = call("POST", executions, json={"execution_type": "MANUAL"}).json()["data"]
        assert wait_for(lambda: ended(by_hand["id"]), timeout=60)["status"] == "SUCCEEDED"

        # A run whose worker is killed mid-run: the reaper retries it on the other host.
        long = call(
            "POST", executions, json={"execution_type": "MANUAL", "parameters": {"sleep": 60}}
        ).json()["data"]
        running_on = wait_for(
            lambda: (found := execution(long["id"]))["status"] == "RUNNING" and found["worker"],
            timeout=60,
            message="the long run to start",
        )
        killed = {one.pid: one, two.pid: two}[int(running_on.rsplit(":", 1)[1])]
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert wait_for(lambda: ended(long["id"]), timeout=60)["status"] == "FAILED"

        def retry_succeeded():
            found = call("GET", executions).json()["data"]
            return next(
                (
                    e
                    for e in found
                    if e.get("retry_of_id") == long["id"] and e["status"] == "SUCCEEDED"
                ),
                None,
            )

        retry = wait_for(retry_succeeded, timeout=60, message="the retry on the other host")
        assert retry["worker"] != running_on

        # Ingest a chunked upload, then export it.
        dataset = call(
            "POST",
            "/v1/datasets",
            json={
                "name": "People",
                "schema": [
                    {"name": "email", "type": "String", "required": True},
                    {"name": "age", "type": "Integer", "required": False},
                ],
            },
        ).json()["data"]
        batch = call("POST", "/v1/batches", json={"datasetId": dataset["id"]}).json()
        file_url = f"/v1/batches/{batch['id']}/datasets/{dataset['id']}/files/people.csv"
        call("POST", f"{file_url}?action=initialize")
        for start in range(0, len(CSV), 30_000):
            piece = CSV[start : start + 30_000]
            call(
                "PATCH",
                file_url,
                data=piece,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"bytes {start}-{start + len(piece) - 1}/{len(CSV)}",
                },
            )
        call("POST", f"{file_url}?action=COMPLETE")
        call("POST", f"/v1/batches/{batch['id']}?action=COMPLETE")
        status = wait_for(
            lambda: (
                (b := call("GET", f"/v1/batches/{batch['id']}").json())["status"]
                in ("active", "failed")
                and b
            ),
            timeout=60,
            message="the batch to be staged",
        )
        assert status["status"] == "active", status
        export = call(
            "POST",
            "/ls/api/batch/export",
            data={"jobName": "People", "itemType": "People", "contentType": "text/plain"},
        ).json()
        job = wait_for(
            lambda: (
                (j := call("POST", "/ls/api/batch/status", json={"jobId": export["jobId"]}).json())[
                    "status"
                ]
                in ("Completed", "Failed")
                and j
            ),
            timeout=60,
            message="the export",
        )
        assert job["status"] == "Completed", job
        (link,) = job["links"]
        download = requests.get(link, timeout=30)  # redirected to the bucket's presigned URL
        assert download.status_code == 200 and download.content.count(b"\n") == 5000

        # And on its cron, on whichever host: the next minute's fire time.
        def cron_run():
            found = call("GET", executions).json()["data"]
            return next(
                (e for e in found if e["execution_type"] == "CRON" and e["status"] == "SUCCEEDED"),
                None,
            )

        assert wait_for(cron_run, timeout=90, message="a CRON run")

    for name in hosts:  # every process has stopped: nothing of theirs is still being written
        folder = tmp_path / name
        kept = [
            path.relative_to(folder)
            for path in folder.rglob("*")
            if path.is_file() and path.relative_to(folder).parts[0] not in SCRATCH
        ]
        assert kept == [], f"{name} kept {kept} on its own disk"
