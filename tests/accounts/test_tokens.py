from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.accounts.models import ApiToken, Membership, Role
from apps.accounts.services import api_token_authenticate, api_token_create, api_token_revoke
from apps.core.errors import TransitionError
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_token_is_shown_once_and_stored_only_as_a_digest(world):
    token, raw = api_token_create(organisation=world.org_a, user=world.editor_a, name="ci")
    assert raw.startswith("bw_") and len(raw) > 40
    stored = ApiToken.objects.get(pk=token.pk)
    assert raw not in {stored.digest, stored.prefix, stored.name}
    assert stored.prefix == raw[:10]
    assert api_token_authenticate(raw) == token


def test_an_unknown_token_authenticates_nobody(world):
    api_token_create(organisation=world.org_a, user=world.editor_a, name="ci")
    assert api_token_authenticate("bw_not-a-real-token") is None


def test_last_used_at_is_recorded_at_most_once_a_minute(world):
    token, raw = api_token_create(organisation=world.org_a, user=world.editor_a, name="ci")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        api_token_authenticate(raw)
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        api_token_authenticate(raw)
    token.refresh_from_db()
    assert token.last_used_at == start
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        api_token_authenticate(raw)
    token.refresh_from_db()
    assert token.last_used_at == start + timedelta(minutes=2)


def test_a_revoked_token_stops_working_and_cannot_be_revoked_again(world):
    token, raw = api_token_create(organisation=world.org_a, user=world.editor_a, name="ci")
    api_token_revoke(token=token)
    assert token.revoked_at is not None
    assert api_token_authenticate(raw) is None
    with pytest.raises(TransitionError, match="already revoked"):
        api_token_revoke(token=token)


def test_a_token_stops_working_when_its_user_leaves_the_organisation(world):
    _, raw = api_token_create(organisation=world.org_a, user=world.editor_a, name="ci")
    Membership.objects.filter(user=world.editor_a).delete()
    assert api_token_authenticate(raw) is None


def test_a_token_of_a_deactivated_user_stops_working(world):
    _, raw = api_token_create(organisation=world.org_a, user=world.editor_a, name="ci")
    world.editor_a.is_active = False
    world.editor_a.save()
    assert api_token_authenticate(raw) is None


def test_only_members_get_tokens(world):
    with pytest.raises(ValidationError) as caught:
        api_token_create(organisation=world.org_b, user=world.editor_a, name="ci")
    assert list(caught.value.message_dict) == ["user"]
    assert not ApiToken.objects.exists()


def test_roles_include_the_ones_below():
    assert Role.ADMIN.includes(Role.EDITOR) and Role.EDITOR.includes(Role.READER)
    assert not Role.READER.includes(Role.EDITOR)
    assert Role.at_least(Role.EDITOR) == [Role.ADMIN, Role.EDITOR]


def test_create_api_token_prints_a_working_token(world, capsys):
    call_command(
        "create_api_token", organisation="Org A", user=world.admin_a.username, name="deploy"
    )
    raw = capsys.readouterr().out.strip()
    assert api_token_authenticate(raw).name == "deploy"


@pytest.mark.parametrize(
    ("organisation", "user", "message"),
    [
        ("Nope", "u", "No organisation is named 'Nope'."),
        ("Org A", "ghost", "No user is named 'ghost'."),
    ],
)
def test_create_api_token_refuses_unknown_names(world, organisation, user, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", organisation=organisation, user=user)


def test_create_api_token_refuses_a_non_member(world):
    outsider = UserFactory()
    with pytest.raises(CommandError, match="is not a member of Org A"):
        call_command("create_api_token", organisation="Org A", user=outsider.username)
