"""External feeds in the console, in a real browser, with a real worker and a partner."""

import json
import re

import pytest
from playwright.sync_api import expect

from apps.feeds import services
from apps.feeds.models import AudienceSegmentExternalFeed
from tests.browser.conftest import go_to, log_in, mark_page, same_document, screenshot
from tests.feeds.conftest import Receiver, feed_version, update
from tests.processes import running
from tests.runner.conftest import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_feed_is_created_fed_followed_live_and_a_failed_batch_replayed(page, world):
    version = feed_version(organisation=world.org_a, artifact_id="group-by-type")
    partner = Receiver()
    partner.answers.append({"status": "ERROR", "message": "partner over quota"})
    try:
        with running("run_worker", BATCHWORKS_FEED_FLUSH_INTERVAL_SECONDS="2"):
            log_in(page, world.editor_a.username)
            go_to(page, "Feeds")
            page.get_by_role("button", name="New feed").click()
            page.get_by_label("Plugin version").select_option(str(version.pk))
            page.get_by_label("Audience segment").fill("vip-customers")
            page.get_by_label("Name").fill("VIP to partner")
            page.get_by_label("Property values").fill(
                json.dumps({"receiver": {"url": partner.url}})
            )
            screenshot(page, "feed-new")
            page.get_by_role("button", name="Create the feed").click()

            page.wait_for_url(re.compile(r"/feeds/\d+/$"))
            mark_page(page)
            expect(page.locator("#feed-summary")).to_contain_text("OK", timeout=30_000)
            feed = AudienceSegmentExternalFeed.objects.get()
            services.updates_receive(
                feed=feed, updates=[update(("EMAIL", f"{n}@x")) for n in range(4)]
            )
            failed_row = page.locator("#feed-activity tbody tr", has_text="partner over quota")
            expect(failed_row).to_be_visible(timeout=30_000)
            expect(
                page.locator("#feed-activity tbody .status", has_text="DELIVERED")
            ).to_have_count(1, timeout=30_000)  # the last line, flushed by age
            assert same_document(page), "the feed's page follows it live, without reloads"
            screenshot(page, "feed-detail")

            failed_row.get_by_role("button", name="Replay").click()
            expect(page.locator("#feed-activity tbody .status", has_text="FAILED")).to_have_count(
                0, timeout=30_000
            )
            wait_for(lambda: len(partner.lines()) == 7, timeout=30, message="the replay")
            assert sorted(partner.lines()) == sorted(
                [f"UPSERT,EMAIL,{n}@x" for n in range(3)] * 2 + ["UPSERT,EMAIL,3@x"]
            )

            page.get_by_role("button", name="Troubleshoot").click()
            expect(page.locator("#troubleshoot + p")).to_contain_text(
                "receiver reachable", timeout=30_000
            )
    finally:
        partner.close()
