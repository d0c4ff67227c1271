import os
from dataclasses import dataclass

import pytest
from django.conf import settings

from apps.accounts.models import Role
from tests.factories import MembershipFactory, OrganisationFactory, UserFactory

IN_CI = bool(os.environ.get("CI"))


def pytest_runtest_setup(item):
    """Tests that need PostgreSQL or Redis skip on a laptop without them, and fail in CI,
    where both must run."""
    missing = []
    if (
        item.get_closest_marker("postgres")
        and "postgresql" not in settings.DATABASES["default"]["ENGINE"]
    ):
        missing.append("PostgreSQL (DATABASE_URL=postgres://…)")
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        missing.append("Redis (REDIS_URL=redis://…)")
    if missing:
        message = f"needs {' and '.join(missing)}"
        if IN_CI:
            pytest.fail(f"{message}, which CI must provide")
        pytest.skip(message)


@dataclass
class World:
    """Two organisations with a member of each role in the first and an admin in the
    second, all staff, plus a superuser."""

    org_a: object
    org_b: object
    admin_a: object
    editor_a: object
    reader_a: object
    admin_b: object
    superuser: object


@pytest.fixture
def world(db) -> World:
    org_a, org_b = OrganisationFactory(name="Org A"), OrganisationFactory(name="Org B")

    def member(org, role):
        return MembershipFactory(organisation=org, role=role).user

    return World(
        org_a=org_a,
        org_b=org_b,
        admin_a=member(org_a, Role.ADMIN),
        editor_a=member(org_a, Role.EDITOR),
        reader_a=member(org_a, Role.READER),
        admin_b=member(org_b, Role.ADMIN),
        superuser=UserFactory(is_superuser=True),
    )
