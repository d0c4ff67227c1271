"""`/healthz`, for load balancers and orchestrators: can this process reach what it needs
— the database, Redis (when configured), the file storage? The answer names each check
and whether it passed, never why not (an error could hold a host name or a password):
the reason goes to the log."""

import logging
import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)
REDIS_TIMEOUT_SECONDS = 2


@never_cache
@require_safe
def healthz(request) -> JsonResponse:
    checks = reachable()
    healthy = all(checks.values())
    return JsonResponse(
        {
            "status": "ok" if healthy else "unavailable",
            "checks": {name: "ok" if passed else "failing" for name, passed in checks.items()},
        },
        status=200 if healthy else 503,
    )


def reachable() -> dict[str, bool]:
    """Each of what this process needs, and whether it answers now."""
    return {name: _passes(name, check) for name, check in _checks().items()}


def _checks() -> dict:
    checks = {"database": _database, "storage": _storage}
    if settings.REDIS_URL:
        checks["redis"] = _redis
    return checks


def _passes(name: str, check) -> bool:
    try:
        check()
    except Exception:
        logger.exception("Health check %s failed", name)
        return False
    return True


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


def _storage() -> None:
    if isinstance(default_storage, FileSystemStorage):  # its folder, there and writable
        folder = Path(default_storage.location)
        folder.mkdir(parents=True, exist_ok=True)  # as the first upload would
        if not os.access(folder, os.W_OK):
            raise PermissionError(f"{folder} is not writable")
    else:
        default_storage.exists("healthz")  # a lookup: a HEAD request on object storage
