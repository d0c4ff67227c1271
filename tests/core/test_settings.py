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
    "BATCHWORKS_EMAIL_URL": "smtp+tls://batchworks:s3cret@mail.example.com:587",
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


def test_the_production_profile_without_an_smtp_server_is_told_mail_stays_in_files(tmp_path):
    without_smtp = {k: v for k, v in PRODUCTION.items() if k != "BATCHWORKS_EMAIL_URL"}
    result = manage("check", "--deploy", env={**without_smtp, "BATCHWORKS_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0 and "development-only email backend" in result.stderr


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


SEND_A_MAIL = """
import os, warnings
warnings.simplefilter("error", PendingDeprecationWarning)  # Django 7.0's removals
warnings.simplefilter("error", DeprecationWarning)
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
import django
django.setup()
from django.core.mail import send_mail
send_mail("Subject", "Body", None, ["ana@example.com"])
"""


def test_the_embedded_default_writes_mail_under_the_data_dir_through_current_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env |= {"BATCHWORKS_DATA_DIR": str(tmp_path)}
    env.pop("BATCHWORKS_EMAIL_URL", None)
    result = subprocess.run(
        [sys.executable, "-c", SEND_A_MAIL], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    (message,) = (tmp_path / "mail").iterdir()
    assert "To: ana@example.com" in message.read_text()


def test_an_email_url_that_names_no_smtp_server_stops_start_up_naming_the_variable(tmp_path):
    for url in ("http://mail.example.com", "smtp://", "consolemail://"):
        result = manage(
            "check", env={"BATCHWORKS_EMAIL_URL": url, "BATCHWORKS_DATA_DIR": str(tmp_path)}
        )
        assert result.returncode != 0
        assert "Environment variable BATCHWORKS_EMAIL_URL:" in result.stderr, url
