"""Plugin code against the platform it runs on: a hostile plugin, run by a real worker,
tries every way to the worker's secrets and to the worker itself. Each must fail, and
nothing secret may reach the run's log or result."""

import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from apps.runner import isolation
from apps.runner.logs import read_log
from apps.runner.services import execution_claim, execution_create_manual
from apps.runner.supervisor import run
from apps.runner.worker import Runs
from apps.scheduling.models import ExecutionStatus
from tests.factories import PluginFactory, make_instance, make_version
from tests.processes import running
from tests.runner import plugins
from tests.runner.conftest import wait_for_status

HOSTILE = plugins.plugin("""
import ctypes, errno, signal, ssl, subprocess

results = {}
def attempt(name, action):
    try:
        value = action()
    except OSError as error:
        results[name] = "denied: " + errno.errorcode.get(error.errno, str(error.errno))
    else:
        results[name] = "LEAKED: " + repr(value)[:300]

def ptrace_attach(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.ptrace(16, pid, 0, 0) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")
    return "attached"

def signal_worker(pid):
    os.kill(pid, signal.SIGCONT)  # harmless if it got through; SIGKILL would too
    return "signal delivered"

worker, fork_server = context.parameters["worker"], os.getppid()
attempt("the worker's environment", lambda: open(f"/proc/{worker}/environ", "rb").read())
attempt("the worker's memory", lambda: open(f"/proc/{worker}/mem", "rb").read(16))
attempt("the fork server's memory", lambda: open(f"/proc/{fork_server}/mem", "rb").read(16))
attempt("another process's environment", lambda: open("/proc/1/environ", "rb").read())
attempt("the process list", lambda: os.listdir("/proc"))
for label, path in context.parameters["files"].items():
    attempt(label, lambda path=path: open(path, "rb").read())
attempt("the runs folder", lambda: os.listdir(context.parameters["runs"]))
attempt("tracing the worker", lambda: ptrace_attach(worker))
attempt("tracing the fork server", lambda: ptrace_attach(fork_server))
attempt("signalling the worker", lambda: signal_worker(worker))
attempt("signalling the fork server", lambda: signal_worker(fork_server))

# What a legitimate plugin needs still works.
(context.scratch_dir / "out.csv").write_text("a,b\\n")
ssl.create_default_context()  # reads the system's certificates
subprocess.run(["true"], check=True)
print("legitimate work done")
return results
""")


@pytest.fixture
def secrets(tmp_path):
    """A marker secret in each place plugin code must not read, and where each lives."""
    marker = f"s3cret-{uuid.uuid4()}"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env_file = tmp_path / "batchworks.env"
    env_file.write_text(f"BATCHWORKS_TEST_DOTENV={marker}\n")
    (data_dir / "secret_key").write_text(f"{marker}-secret-key")
    (data_dir / "batchworks.sqlite3").write_text(f"{marker}-database")
    upload = Path(settings.MEDIA_ROOT) / f"upload-{marker}.csv"
    upload.write_text(f"{marker}-upload")
    yield (
        marker,
        {
            "environment": {
                "BATCHWORKS_DATA_DIR": str(data_dir),
                "BATCHWORKS_ENV_FILE": str(env_file),
                "BATCHWORKS_TEST_SECRET": marker,
            },
            "files": {
                "the settings file (.env)": str(env_file),
                "the secret key": str(data_dir / "secret_key"),
                "the database file": str(data_dir / "batchworks.sqlite3"),
                "an upload": str(upload),
            },
        },
    )
    upload.unlink()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_plugin_code_reaches_none_of_the_platforms_secrets(secrets):
    marker, where = secrets
    # Another run in progress, with its folder and its execution credential.
    neighbour = execution_claim(execution=execution_create_manual(instance=make_instance()))
    neighbour_folder = settings.EXECUTION_WORK_DIR / f"execution-{neighbour.pk}-running"
    neighbour_folder.mkdir()
    (neighbour_folder / "spec.json").write_text(f'{{"credential": "{marker}-credential"}}')
    files = {**where["files"], "another run's folder": str(neighbour_folder / "spec.json")}

    instance = make_instance(version=make_version(code=HOSTILE))
    with running("run_worker", **where["environment"]) as worker:
        parameters = {
            "files": files,
            "runs": str(settings.EXECUTION_WORK_DIR),
            "worker": worker.pid,
        }
        execution = execution_create_manual(instance=instance, parameters=parameters)
        wait_for_status(execution, ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED, timeout=60)
        assert worker.poll() is None  # alive, never stopped by its plugin
    log = read_log(execution.pk).text
    assert execution.status == ExecutionStatus.SUCCEEDED, (execution.error, log)
    assert "legitimate work done" in log
    results = execution.result
    assert set(results) == {
        "the worker's environment",
        "the worker's memory",
        "the fork server's memory",
        "another process's environment",
        "the process list",
        *files,
        "the runs folder",
        "tracing the worker",
        "tracing the fork server",
        "signalling the worker",
        "signalling the fork server",
    }
    leaked = {name: outcome for name, outcome in results.items() if "denied" not in outcome}
    assert leaked == {}
    assert results["signalling the worker"] == results["signalling the fork server"]
    assert results["signalling the worker"] == "denied: EPERM"
    assert marker not in log and marker not in str(results)
    neighbour_folder.joinpath("spec.json").unlink()
    neighbour_folder.rmdir()


@pytest.mark.django_db
def test_a_worker_that_cannot_confine_plugins_refuses_when_isolation_is_required(
    monkeypatch, settings
):
    """As on a kernel without Landlock: the run is left PENDING for a worker that can."""
    monkeypatch.setattr(isolation, "probe", lambda: isolation.Isolation(landlock_abi=0))
    settings.PLUGIN_ISOLATION = "required"
    execution = execution_create_manual(instance=make_instance())
    answer = run(execution.pk)
    assert answer.startswith("This worker refuses to run plugin code")
    assert "Landlock is not available" in answer
    assert "BATCHWORKS_PLUGIN_ISOLATION=best-effort" in answer
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_cannot_confine_plugins_takes_no_run_and_says_so_once(
    monkeypatch, settings, caplog
):
    """Its runs thread ends at once, rather than looking for runs it would refuse in a
    loop: the run waits for a worker that can."""
    monkeypatch.setattr(isolation, "probe", lambda: isolation.Isolation(landlock_abi=0))
    settings.PLUGIN_ISOLATION = "required"
    execution = execution_create_manual(instance=make_instance())
    runs = Runs()
    runs.start()
    runs.join(timeout=10)
    assert not runs.is_alive()
    refusals = [r for r in caplog.records if "refuses to run plugin code" in r.getMessage()]
    assert len(refusals) == 1
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.PENDING


@pytest.mark.django_db
def test_with_best_effort_it_runs_and_the_dashboard_warns(monkeypatch, settings, client, world):
    monkeypatch.setattr(isolation, "probe", lambda: isolation.Isolation(landlock_abi=3))
    monkeypatch.setattr("apps.runner.services._last_check_in", {})
    settings.PLUGIN_ISOLATION = "best-effort"
    version = make_version(plugin=PluginFactory(organisation=world.org_a))
    execution = execution_create_manual(instance=make_instance(version=version))
    assert run(execution.pk) == "SUCCEEDED"
    client.force_login(world.reader_a)
    page = client.get(reverse("dashboard")).text
    assert "Plugin isolation on this installation's workers is weaker" in page
    assert "cannot scope signals before ABI 6" in page


def test_this_machine_confines_plugins_as_production_requires():
    """CI's machine has what production needs; if it ever lacks it, say so loudly."""
    found = isolation.probe()
    assert found.production_grade, found.summary()
