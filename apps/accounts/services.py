import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import F
from django.utils import timezone

from apps.accounts.models import ApiToken, Membership, Organisation
from apps.core.errors import TransitionError

TOKEN_PREFIX = "bw_"
# Recording every use would make each API request a write; a minute's precision is plenty
# for "when was this token last used?".
LAST_USED_PRECISION = timedelta(minutes=1)


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
    return token, raw_token


def validate_token_owner(*, organisation: Organisation, user) -> None:
    """A token acts with its user's role in its organisation, so the user must have one."""
    if not Membership.objects.filter(organisation=organisation, user=user).exists():
        raise ValidationError({"user": f"{user} is not a member of {organisation}."})


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    token.refresh_from_db()
    if not revoked:
        raise TransitionError("This token is already revoked.", code="already_revoked")
    return token


def api_token_authenticate(raw_token: str) -> ApiToken | None:
    """The active token for this secret, its user still a member of its organisation;
    None otherwise. Records the use at most once a minute."""
    token = (
        ApiToken.objects.active()
        .select_related("user", "organisation")
        .filter(digest=ApiToken.digest_of(raw_token), user__is_active=True)
        .filter(user__memberships__organisation=F("organisation"))
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
