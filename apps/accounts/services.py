import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, ProtectedError
from django.utils import timezone

from apps.accounts.models import ApiToken, Membership, Organisation, Role
from apps.audit import services as audit
from apps.core.errors import TransitionError
from apps.core.models import Retention

TOKEN_PREFIX = "bw_"
# Recording every use would make each API request a write; a minute's precision is plenty
# for "when was this token last used?".
LAST_USED_PRECISION = timedelta(minutes=1)


# --- Organisations -------------------------------------------------------------------------


def organisation_create(*, name: str) -> Organisation:
    organisation = Organisation(name=name)
    organisation.full_clean()
    organisation.save()
    return organisation


@transaction.atomic
def organisation_rename(*, organisation: Organisation, name: str) -> Organisation:
    changes = {"name": [organisation.name, name]}
    organisation.name = name
    organisation.full_clean()
    organisation.save(update_fields=["name"])
    audit.record("organisation.renamed", organisation, changes=changes)
    return organisation


RETENTION_DEFAULTS = (*Retention.RETENTION_FIELDS, "keep_data_days")


@transaction.atomic
def organisation_set_retention(*, organisation: Organisation, **settings) -> Organisation:
    """The organisation's default retention (its instances' own settings win), and how
    long batches' data and jobs' files are kept. None keeps for ever."""
    if unknown := set(settings).difference(RETENTION_DEFAULTS):
        raise TypeError(f"Not retention settings: {', '.join(sorted(unknown))}")
    before = audit.snapshot(organisation, settings)
    for name, value in settings.items():
        setattr(organisation, name, value)
    organisation.full_clean()
    organisation.save(update_fields=list(settings))
    changes = audit.changes_between(before, settings)
    if changes:
        audit.record("organisation.retention_changed", organisation, changes=changes)
    return organisation


@transaction.atomic
def organisation_delete(*, organisation: Organisation) -> None:
    """Only an organisation that holds no plugins, instances or datasets any more."""
    try:
        organisation.delete()
    except ProtectedError as error:
        kinds = sorted(
            {str(type(obj)._meta.verbose_name_plural) for obj in error.protected_objects}
        )
        raise TransitionError(
            f"{organisation} still holds {', '.join(kinds)}: remove them first.", code="in_use"
        ) from None


# --- API tokens ----------------------------------------------------------------------------


@transaction.atomic
def api_token_create(*, organisation: Organisation, user, name: str) -> tuple[ApiToken, str]:
    """Issue a token for `user` in `organisation`. The raw secret is returned once, here,
    and never stored."""
    validate_token_owner(organisation=organisation, user=user)
    raw_token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        organisation=organisation,
        user=user,
        name=name,
        prefix=raw_token[:10],
        digest=ApiToken.digest_of(raw_token),
    )
    token.full_clean()
    token.save()
    audit.record("token.created", token, name=f"{token.name} (of {user})")
    return token, raw_token


def validate_token_owner(*, organisation: Organisation, user) -> None:
    """A token acts with its user's role in its organisation, so the user must have one."""
    if not Membership.objects.filter(organisation=organisation, user=user).exists():
        raise ValidationError({"user": f"{user} is not a member of {organisation}."})


@transaction.atomic
def api_token_revoke(*, token: ApiToken) -> ApiToken:
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db()
    if not revoked:
        raise TransitionError("This token is already revoked.", code="already_revoked")
    audit.record("token.revoked", token, name=f"{token.name} (of {token.user})")
    return token


def api_token_authenticate(raw_token: str) -> ApiToken | None:
    """The active token for this secret, its user still a member of its organisation (with
    `role`, the user's role there); None otherwise. Records the use at most once a minute."""
    token = (
        ApiToken.objects.active()
        .select_related("user", "organisation")
        .filter(digest=ApiToken.digest_of(raw_token), user__is_active=True)
        .filter(user__memberships__organisation=F("organisation"))
        .annotate(role=F("user__memberships__role"))  # the user's role there, for this request
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- Members -------------------------------------------------------------------------------


@transaction.atomic
def membership_add(*, organisation: Organisation, user, role: str) -> Membership:
    membership = Membership(organisation=organisation, user=user, role=role)
    membership.full_clean()
    membership.save()
    audit.record("member.added", membership, name=str(user), changes={"role": [None, role]})
    return membership


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str) -> Membership:
    _lock_admins(membership.organisation)
    if role != Role.ADMIN:
        _refuse_removing_last_admin(membership)
    changes = {"role": [membership.role, role]}
    membership.role = role
    membership.full_clean()
    membership.save(update_fields=["role"])
    audit.record("member.role_changed", membership, name=str(membership.user), changes=changes)
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """The member leaves; their tokens for this organisation stop working with it."""
    _lock_admins(membership.organisation)
    _refuse_removing_last_admin(membership)
    audit.record("member.removed", membership, name=str(membership.user))
    membership.delete()


def _lock_admins(organisation: Organisation) -> None:
    """Two admins demoting each other at once must not leave the organisation without one."""
    list(organisation.memberships.filter(role=Role.ADMIN).select_for_update())


def _refuse_removing_last_admin(membership: Membership) -> None:
    admins = membership.organisation.memberships.filter(role=Role.ADMIN)
    if membership.role == Role.ADMIN and not admins.exclude(pk=membership.pk).exists():
        raise TransitionError(
            f"{membership.user} is the last admin of {membership.organisation}: "
            "make another member admin first.",
            code="last_admin",
        )
