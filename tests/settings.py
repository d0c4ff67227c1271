"""Test settings: the real settings, with what makes tests fast and self-contained."""

import tempfile
from pathlib import Path

from config.settings import *  # noqa: F403
from config.settings import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests render pages without running collectstatic first.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="batchworks-test-media-"))
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="batchworks-test-static-"))
