"""manage.py feed_send: JSON Lines into a feed, as the API takes them."""

import json

import pytest
from django.core.management import CommandError, call_command

from tests.feeds.conftest import feed_version, make_feed, update

pytestmark = pytest.mark.django_db


def test_feed_send_stores_every_line_in_order(world, tmp_path, capsys):
    feed = make_feed(feed_version(organisation=world.org_a))
    path = tmp_path / "updates.jsonl"
    path.write_text(
        "\n".join(json.dumps(update(("EMAIL", f"{n}@x"))) for n in range(2500)) + "\n\n"
    )
    call_command("feed_send", str(feed.pk), str(path), organisation=world.org_a.name)
    assert "Sent 2,500 updates" in capsys.readouterr().out
    values = [
        u[0]["value"]
        for u in feed.updates.order_by("id").values_list("user_identifiers", flat=True)
    ]
    assert values == [f"{n}@x" for n in range(2500)]


def test_feed_send_names_a_bad_line_and_stores_nothing_of_its_chunk(world, tmp_path):
    feed = make_feed(feed_version(organisation=world.org_a))
    path = tmp_path / "updates.jsonl"
    path.write_text(
        json.dumps(update(("EMAIL", "a@x")))
        + "\n\n"
        + json.dumps({**update(("EMAIL", "b@x")), "operation": "MERGE"})
        + "\n"
    )
    with pytest.raises(CommandError, match="line 3: operation: UPSERT or DELETE"):
        call_command("feed_send", str(feed.pk), str(path), organisation=world.org_a.name)
    assert feed.updates.count() == 0


def test_feed_send_refuses_another_organisations_feed(world, tmp_path):
    theirs = make_feed(feed_version(organisation=world.org_b))
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps(update(("EMAIL", "a@x"))))
    with pytest.raises(CommandError, match="has no feed"):
        call_command("feed_send", str(theirs.pk), str(path), organisation=world.org_a.name)
