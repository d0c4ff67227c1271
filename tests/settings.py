"""Test settings: the real settings, with what makes tests fast and self-contained.

Worker processes started by tests load these settings too, so the folders come from
the environment when the test process has already chosen them."""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from config.settings import *  # noqa: F403
from config.settings import CACHES, REDIS_URL, RQ_QUEUES, STORAGES


def _shared_temp_dir(variable: str, prefix: str) -> Path:
    """A folder shared by a test process and the processes it starts, and by them only:
    each xdist worker has its own (their workers sweep what their database does not know)."""
    variable += f"_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    return Path(os.environ.setdefault(variable, tempfile.mkdtemp(prefix=prefix)))


def _redis_of_this_worker(url: str) -> str:
    """Each xdist worker's tests, and the processes they start, have a Redis database of
    their own, so the queues and counters of tests running side by side never meet. A
    process started with the URL already moved keeps it; one given another URL (a test of a
    Redis that is down, say) has that one moved too."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker.startswith("gw") or url == os.environ.get("BATCHWORKS_TEST_REDIS_URL"):
        return url
    parts = urlsplit(url)
    database = (int(parts.path.strip("/") or 0) + 1 + int(worker[2:])) % 16
    moved = urlunsplit(parts._replace(path=f"/{database}"))
    os.environ["REDIS_URL"] = os.environ["BATCHWORKS_TEST_REDIS_URL"] = moved
    return moved


REDIS_URL = _redis_of_this_worker(REDIS_URL)
if REDIS_URL:
    CACHES = {"default": {**CACHES["default"], "LOCATION": REDIS_URL}}
    RQ_QUEUES = {"default": {**RQ_QUEUES["default"], "URL": REDIS_URL}}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as the embedded default has, not memory: an in-memory test database is one
    # connection, shared by the test and every request thread of the live server, and two
    # requests at once garbled each other's results (a pk matching two rows, a session not
    # found). With a file each thread has its own connection, and SQLite's locking.
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": str(
            _shared_temp_dir("BATCHWORKS_TEST_DB_DIR", "batchworks-test-db-") / "db.sqlite3"
        )
    }

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests render pages without running collectstatic first.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = _shared_temp_dir("BATCHWORKS_TEST_MEDIA_ROOT", "batchworks-test-media-")
STATIC_ROOT = _shared_temp_dir("BATCHWORKS_TEST_STATIC_ROOT", "batchworks-test-static-")
EXECUTION_WORK_DIR = _shared_temp_dir("BATCHWORKS_TEST_WORK_DIR", "batchworks-test-runs-")
TRANSFER_WORK_DIR = _shared_temp_dir("BATCHWORKS_TEST_TRANSFER_DIR", "batchworks-test-transfers-")
if not os.environ.get("BATCHWORKS_EMAIL_URL"):  # a test may start an SMTP server of its own
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
# Runs report and react quickly, so tests of cancel, timeout and lost workers are short.
LEASE_HEARTBEAT_SECONDS = 0.3
EXECUTION_STOP_GRACE_SECONDS = 1.0
# Static files are served from the apps' folders, as collectstatic would gather them.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Rate limits no ordinary test reaches (the fuzzer sends thousands of requests a minute);
# tests of the limits set their own. Each test process counts in its own cache.
API_RATE = os.environ.get("BATCHWORKS_API_RATE", "1000000/minute")
BATCH_CREATION_RATE = os.environ.get("BATCHWORKS_BATCH_CREATION_RATE", "1000000/minute")
if not os.environ.get("BATCHWORKS_TEST_SHARED_CACHE"):  # a test of many processes asks for it
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"batchworks-tests-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}",
        }
    }
# Tests log in with the test client, which gives django-axes no request; its own test
# switches it on.
AXES_ENABLED = False
