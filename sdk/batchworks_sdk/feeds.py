"""External feed plugins: what the platform calls for an audience segment's feed.

An unbatched feed handles each unit update on its own:

    from batchworks_sdk import AudienceFeedPlugin

    class SendToPartner(AudienceFeedPlugin):
        def on_user_segment_update(self, request):
            post(self.context.properties["partner_url"], request["user_identifiers"])
            return {"status": "ok"}

A batched feed turns each update into lines, which the platform groups by their exact
`grouping_key` into batches, then hands each batch to `on_batch_update`:

    class GroupByType(BatchedAudienceFeedPlugin):
        def on_user_segment_update(self, request):
            return {"status": "ok", "data": [
                {"data": f"{i['type']},{i['value']}", "grouping_key": i["type"]}
                for i in request["user_identifiers"]
            ]}

        def on_batch_update(self, request):
            post(self.context.properties["partner_url"], "\\n".join(request["batch_content"]))
            return {"status": "OK", "send_items_in_success": len(request["batch_content"]),
                    "send_items_in_error": 0}

Handlers receive and return JSON objects (dicts), the shapes of the Node SDK's
`BatchedAudienceFeedConnectorBasePlugin`. An exception fails that one call with its
message (its traceback goes to the feed's log); the feed goes on. The plugin object lives
across many calls: set up clients once, in `__init__` or on first use."""

import logging
from dataclasses import dataclass
from pathlib import Path

from batchworks_sdk.context import Properties
from batchworks_sdk.ingestion import PlatformApi


@dataclass
class FeedContext:
    """What a feed's handlers know of their feed."""

    feed_id: int
    organisation_id: int
    segment_id: str
    properties: Properties
    scratch_dir: Path
    logger: logging.Logger


class AudienceFeedPlugin:
    """Base class of external feed plugins. The platform sets `self.context` before the
    first call.

    - `on_external_segment_creation` / `on_external_segment_connection`: when the feed is
      created, answer `{"status": "ok" | "error" | "external_segment_not_ready_yet",
      "message": …}`; not ready yet is asked again later. Both default to ok.
    - `on_user_segment_update`: one update, `{feed_id, session_id, segment_id,
      user_identifiers, ts, operation: "UPSERT" | "DELETE"}`; answer `{"status": "ok" |
      "error" | "retry" | "no_eligible_identifier", "message"?, "next_msg_delay_in_ms"?}`.
      A retry stops the feed's updates for that delay (or a doubling back-off) and asks
      again, so that updates keep their order.
    - `on_troubleshoot`: answer `{"status": "ok" | "error" | "not_implemented", "message"?,
      "data"?}` for the console's Troubleshoot button."""

    context: FeedContext

    def on_external_segment_creation(self, request: dict) -> dict:
        return {"status": "ok"}

    def on_external_segment_connection(self, request: dict) -> dict:
        return {"status": "ok"}

    def on_user_segment_update(self, request: dict) -> dict:
        raise NotImplementedError("An external feed plugin implements on_user_segment_update.")

    def on_troubleshoot(self, request: dict) -> dict:
        return {"status": "not_implemented", "message": "This plugin has no troubleshooting."}


class BatchedAudienceFeedPlugin(AudienceFeedPlugin):
    """An external feed whose updates become lines of later batches.

    - `on_user_segment_update` answers `{"status": "ok", "data": [{"data": <one line: any
      JSON value>, "grouping_key": "…"}, …]}` (or a status other than ok, as unbatched).
    - `on_batch_update` gets `{batch_content: [lines…], ts, context: {feed_id, endpoint,
      grouping_key, batch_id, attempt}}` and answers `{"status": "OK" | "ERROR" | "RETRY",
      "message"?, "next_msg_delay_in_ms"?, "send_items_in_success", "send_items_in_error"}`.
      A batch that was being delivered when a worker died is delivered again with the same
      `batch_id` and a higher `attempt`: a partner call that may have gone through can be
      recognised."""

    def on_batch_update(self, request: dict) -> dict:
        raise NotImplementedError("A batched feed plugin implements on_batch_update.")


class FeedUpdates(PlatformApi):
    """Plugin code's way to send unit updates to a feed of its organisation:
    `context.feeds.send(feed_id, [{"user_identifiers": [...], "operation": "UPSERT"}])`."""

    def send(self, feed_id, updates: list[dict]) -> dict:
        path = f"/v1/audience_segment_external_feeds/{int(feed_id)}/user_segment_updates"
        return self._json("POST", path, updates)
