"""What the caller of an API request may see and change: their organisations and roles.

A token acts in its one organisation with its user's role there; a browser session acts
in every organisation of its user; a superuser's session in every organisation, as admin.
Objects outside these organisations are not found (404): their existence is not revealed."""

from dataclasses import dataclass
from typing import Any

from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

from apps.accounts.models import ApiToken, Organisation, Role
from apps.accounts.permissions import change_role
from apps.accounts.selectors import roles_by_organisation
from apps.core.api.inputs import as_pk


@dataclass
class Access:
    user: object
    roles: dict[int, Role] | None  # None: every organisation, as ADMIN (superuser session)
    # An ApiToken, or a runner's RunningExecution: either acts in one organisation, one role.
    token: Any = None

    @classmethod
    def of(cls, request) -> "Access":
        if not hasattr(request, "_access"):
            token = request.auth if _acts_in_one_organisation(request.auth) else None
            if token is not None:
                roles = {token.organisation_id: Role(token.role)}

            elif request.user.is_superuser:
                roles = None
            else:
                roles = roles_by_organisation(request.user)
            request._access = cls(user=request.user, roles=roles, token=token)
        return request._access

    def organisation_ids(self, minimum: Role = Role.READER):
        if self.roles is None:
            return Organisation.objects.values("pk")
        return [org for org, role in self.roles.items() if role.includes(minimum)]

    def role_in(self, organisation_id: int) -> Role | None:
        return Role.ADMIN if self.roles is None else self.roles.get(organisation_id)

    def require(self, organisation_id: int, minimum: Role) -> None:
        """Pass, or refuse: not found outside the caller's organisations, forbidden when the
        caller's role there is too low."""
        role = self.role_in(organisation_id)
        if role is None:
            raise NotFound()
        if not role.includes(minimum):
            raise PermissionDenied(
                f"Your role in this organisation is {role}; this needs {minimum} or above."
            )

    def default_organisation_id(self) -> int | None:
        """The organisation a request means when it names none: the token's, or the
        user's only one."""
        if self.token is not None:
            return self.token.organisation_id
        if self.roles is not None and len(self.roles) == 1:
            return next(iter(self.roles))
        return None

    def require_somewhere(self, minimum: Role) -> None:
        """Refuse (403) a caller whose role is below `minimum` in every organisation of
        theirs: a write they may make nowhere is refused before its body is even read."""
        if not self.organisation_ids(minimum):
            roles = sorted({str(role) for role in (self.roles or {}).values()})
            raise PermissionDenied(
                f"Your role is {' / '.join(roles) or 'none'}; this needs {minimum} or above."
            )

    def organisation_for_new(self, model, organisation_id) -> Organisation:
        """The organisation a new `model` object goes to: the one named, or the caller's
        default; the caller's role there must allow creating it."""
        if organisation_id is None:
            organisation_id = self.default_organisation_id()
            if organisation_id is None:
                raise ValidationError(
                    {"organisation_id": ["Required: you belong to several organisations."]}
                )
        return self.get(Organisation.objects.all(), organisation_id, change_role(model))

    def scoped(self, queryset):
        return queryset.in_organisations(self.organisation_ids())

    def get(self, queryset, pk, minimum: Role = Role.READER):
        """The object `pk` of `queryset` if the caller may act on it with `minimum`."""
        pk = as_pk(queryset.model, pk)
        obj = self.scoped(queryset).filter(pk=pk).first() if pk is not None else None
        if obj is None:
            raise NotFound()
        self.require(obj.owner_organisation_id, minimum)
        return obj


def _acts_in_one_organisation(auth) -> bool:
    """An API token, or a running execution's credential: both act in one organisation
    with one role."""
    return isinstance(auth, ApiToken) or hasattr(auth, "execution")
