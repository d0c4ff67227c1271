"""Who may see and change what: every surface scopes its queries through these."""

from django.contrib.auth.models import AbstractBaseUser

from apps.accounts.models import Membership, Organisation, Role


def organisation_ids_for(user: AbstractBaseUser, *, minimum_role: Role = Role.READER):
    """A lazy subquery of the organisations where `user` holds at least `minimum_role`.

    Superusers run the installation and see every organisation."""
    if user.is_superuser:
        return Organisation.objects.values("pk")
    return Membership.objects.filter(user_id=user.pk, role__in=Role.at_least(minimum_role)).values(
        "organisation_id"
    )


def roles_by_organisation(user: AbstractBaseUser) -> dict[int, Role]:
    """The user's role in each of their organisations, in one query."""
    return {
        organisation_id: Role(role)
        for organisation_id, role in Membership.objects.filter(user_id=user.pk).values_list(
            "organisation_id", "role"
        )
    }
