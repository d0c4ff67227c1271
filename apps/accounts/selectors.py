"""Who holds which role where: every surface scopes its queries by these."""

from django.contrib.auth.models import AbstractBaseUser

from apps.accounts.models import Membership, Role


def roles_by_organisation(user: AbstractBaseUser) -> dict[int, Role]:
    """The user's role in each of their organisations, in one query."""
    return {
        organisation_id: Role(role)
        for organisation_id, role in Membership.objects.filter(user_id=user.pk).values_list(
            "organisation_id", "role"
        )
    }
