"""Who is acting, and through which surface, for the services to record: the request being
answered (its user is the API token's once DRF has authenticated it), or a management
command; otherwise the platform itself (scheduler, workers)."""

import getpass
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

from apps.audit.models import Surface
from apps.core.paths import ADMIN_PATH, API_PATHS

_request: ContextVar = ContextVar("audit_request", default=None)
_surface: ContextVar = ContextVar("audit_surface", default=Surface.SYSTEM)


@dataclass(frozen=True)
class Actor:
    user: Any  # a User, or None
    name: str
    surface: Surface


class RecordRequests:
    """Middleware: the request is the context of whatever its view records."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


@contextmanager
def surface(name: Surface):
    token = _surface.set(name)
    try:
        yield
    finally:
        _surface.reset(token)


def from_command(handle):
    """A management command's handle(): what it changes is recorded as from COMMAND."""

    @wraps(handle)
    def wrapped(*args, **kwargs):
        with surface(Surface.COMMAND):
            return handle(*args, **kwargs)

    return wrapped


def current(user=None) -> Actor:
    """The actor now: `user` when a service was told who acts, else the request's."""
    request = _request.get()
    if request is None:
        surface = _surface.get()
        return Actor(user, str(user) if _is_person(user) else _nobody(surface), surface)
    user = user if _is_person(user) else getattr(request, "user", None)
    return Actor(
        user if _is_person(user) else None, _name(request, user), _surface_of(request.path)
    )


def _nobody(surface: Surface) -> str:
    """Who acts when no user is named: the operator's account for a command."""
    return f"{getpass.getuser()} (manage.py)" if surface == Surface.COMMAND else "system"


def _name(request, user) -> str:
    credential = getattr(request, "auth", None)
    if credential is not None and hasattr(credential, "digest"):  # an ApiToken
        return f"{user} (token {credential.name})"
    if credential is not None and hasattr(credential, "execution"):  # plugin code's run
        return f"plugin code of execution {credential.execution.pk}"
    return str(user) if _is_person(user) else "anonymous"


def _surface_of(path: str) -> Surface:
    if path.startswith(ADMIN_PATH):
        return Surface.ADMIN
    if path.startswith(API_PATHS):
        return Surface.API
    return Surface.CONSOLE


def _is_person(user) -> bool:
    return getattr(user, "pk", None) is not None
