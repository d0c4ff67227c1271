"""Settings as an operator meets them: through the environment, in a fresh process."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3y-" + "x9Q2!vLm#" * 8,
    "ALLOWED_HOSTS": "batchworks.example.com",
    "HTTPS_ONLY": "true",
    "DATABASE_URL": "sqlite:////tmp/batchworks-check.sqlite3",
}


def manage(*args, env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in PRODUCTION and k not in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_production_profile_passes_check_deploy_without_warnings(tmp_path):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env={**PRODUCTION, "BATCHWORKS_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_an_unreadable_boolean_stops_start_up_naming_the_variable(tmp_path):
    result = manage("check", env={"DEBUG": "ture", "BATCHWORKS_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "Environment variable DEBUG: expected true or false, got 'ture'" in result.stderr


def test_the_embedded_default_makes_and_keeps_its_own_secret_key(tmp_path):
    for _ in range(2):
        assert manage("check", env={"BATCHWORKS_DATA_DIR": str(tmp_path)}).returncode == 0
    key = (tmp_path / "secret_key").read_text()
    assert len(key) >= 50
    assert oct((tmp_path / "secret_key").stat().st_mode)[-3:] == "600"
