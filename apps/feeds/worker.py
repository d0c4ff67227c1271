"""A worker's turn on a feed: hold it, then, until nothing is left to do now or the turn is
over, ask the plugin's set-up handlers, answer Troubleshoot, take pending updates through
on_user_segment_update in chunks, flush buffers into batches and deliver each grouping
key's next batch through on_batch_update — all in the feed's warm plugin process.

Whatever the plugin does — raise, hang, die, answer nonsense — fails that call with a
reason and the feed goes on. Whatever the worker suffers, nothing is lost: updates are
marked handled in the same transaction that stores their lines, and a batch killed mid-
delivery is delivered again, under the same id."""

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.core import leases
from apps.feeds import answers, handlers, services
from apps.feeds.answers import WrongShape
from apps.feeds.handlers import HandlerFailed
from apps.feeds.models import (
    AudienceSegmentExternalFeed,
    FeedBatch,
    SetupStatus,
    UpdateStatus,
    UserSegmentUpdate,
)
from apps.runner import isolation

logger = logging.getLogger(__name__)
UPDATE_FIELDS = ("id", "session_id", "user_identifiers", "ts", "operation", "attempts")


def run_feed(feed_id: int) -> str:
    """The task body. Returns what happened, in words."""
    if refused := isolation.refusal():
        logger.error("Feed %s not worked on: %s", feed_id, refused)
        return refused
    isolation.hide_worker()
    services.feed_woken(feed_id)
    turn_ends = time.monotonic() + settings.FEED_TURN_SECONDS
    done = 0
    while True:
        feed = services.feed_claim(feed_id)
        if feed is None:
            return f"Feed {feed_id} is held by another worker, or gone."
        try:
            turn = Turn(feed, turn_ends)
            unfinished = turn.run()
            done += turn.calls
        except services.LeaseLost as lost:
            return str(lost)
        finally:
            services.feed_release(feed)
        if unfinished:  # its turn is over: let other feeds' tasks in, then go on
            services.feed_wake(feed_id)
            return f"Feed {feed_id}: {done} calls, more to do."
        # Released, then looked again: work that arrived meanwhile is never left unwoken.
        if not Turn(feed, turn_ends).has_work_now():
            break
    feed.refresh_from_db()
    if at := services.feed_next_wake(feed):
        services.feed_wake(feed_id, at)
    return f"Feed {feed_id}: {done} calls."


class Turn:
    def __init__(self, feed: AudienceSegmentExternalFeed, ends: float):
        self.feed = feed
        self.ends = ends
        self.calls = 0
        self.storable = False  # the last call's answers hold no text the database refuses

    def run(self) -> bool:
        """Work until nothing is due; True if the turn ended first."""
        while time.monotonic() < self.ends:
            services.feed_heartbeat(self.feed)
            self.feed.refresh_from_db()
            if not self.step():
                return False
        return True

    def step(self) -> bool:
        now = timezone.now()
        if self._setup_due(now):
            return self.setup()
        if self._troubleshoot_asked:
            return self.troubleshoot()
        if not self.feed.connected:
            return False
        worked = self._updates_due(now) and self.handle_updates()
        if self.feed.batching is not None:
            services.buffers_flush(feed=self.feed, now=now)
            for batch in services.batches_due(self.feed, now):
                worked = self.deliver(batch) or worked
        return worked

    def has_work_now(self) -> bool:
        self.feed.refresh_from_db()
        now = timezone.now()
        if self._setup_due(now) or self._troubleshoot_asked:
            return True
        if not self.feed.connected:
            return False
        return self._updates_due(now) or bool(services.batches_due(self.feed, now))

    # --- calls ---------------------------------------------------------------------------

    def call(self, handler: str, requests: list) -> tuple[list[dict], str]:
        """The plugin's answers and what it printed meanwhile (also kept in the feed's
        log), or HandlerFailed."""
        self.calls += 1
        process = handlers.process_for(self.feed)
        try:
            found, log = process.call(
                handler, requests, keep_alive=lambda: services.feed_heartbeat(self.feed)
            )
        except HandlerFailed as failed:
            services.feed_log(self.feed, handler, f"{process.take_log()}[{failed}]\n")
            raise
        self.storable = process.storable  # of these answers: see answers.update(checked=)
        services.feed_log(self.feed, handler, log)
        return found, log

    def call_one(self, handler: str, request: dict) -> tuple[object, str]:
        """One request's answer value and the call's log; the handler's own exception (or
        a dead process) as WrongShape or HandlerFailed."""
        found, log = self.call(handler, [request])
        if "error" in found[0]:
            raise WrongShape(found[0]["error"])
        return found[0].get("value"), log

    @property
    def batched(self) -> bool:
        return self.feed.batching is not None

    # --- set-up and troubleshooting --------------------------------------------------------

    @property
    def _troubleshoot_asked(self) -> bool:
        return bool(self.feed.troubleshoot_requested_at and not self.feed.troubleshoot_answered_at)

    def _setup_due(self, now) -> bool:
        feed = self.feed
        unsettled = (SetupStatus.PENDING, SetupStatus.NOT_READY)
        if feed.creation_status not in unsettled and feed.connection_status not in unsettled:
            return False
        if SetupStatus.ERROR in (feed.creation_status, feed.connection_status):
            return False
        return feed.setup_retry_at is None or feed.setup_retry_at <= now

    def setup(self) -> bool:
        feed = self.feed
        handler = (
            "on_external_segment_creation"
            if feed.creation_status != SetupStatus.OK
            else "on_external_segment_connection"
        )
        request = {"feed_id": feed.pk, "segment_id": feed.segment_id}
        try:
            status, message = answers.setup(self.call_one(handler, request)[0], handler)
        except (HandlerFailed, WrongShape) as failed:
            status, message = SetupStatus.ERROR, str(failed)
        services.feed_setup_answered(feed, handler, status, message)
        return True

    def troubleshoot(self) -> bool:
        request = {"feed_id": self.feed.pk, "segment_id": self.feed.segment_id}
        try:
            answer = answers.troubleshoot(self.call_one("on_troubleshoot", request)[0])
        except (HandlerFailed, WrongShape) as failed:
            answer = {"status": "error", "message": str(failed)}
        services.feed_troubleshoot_answered(self.feed, answer)
        return True

    # --- updates -------------------------------------------------------------------------

    def _updates_due(self, now) -> bool:
        resume_at = self.feed.updates_resume_at
        if resume_at and resume_at > now:
            return False
        return self.feed.updates.filter(status=UpdateStatus.PENDING).exists()

    def handle_updates(self) -> bool:
        pending = list(
            UserSegmentUpdate.objects.filter(feed=self.feed, status=UpdateStatus.PENDING)
            .order_by("id")
            .values_list(*UPDATE_FIELDS, named=True)[: settings.FEED_UPDATES_PER_CALL]
        )
        requests = [self._request(update) for update in pending]
        try:
            found, _ = self.call("on_user_segment_update", requests)
            checked = self.storable
        except HandlerFailed as failed:
            checked = False
            if len(pending) == 1:
                found = [{"error": str(failed)}]
            else:  # one of them broke the process: take them one by one to find which
                found = [self._one(update) for update in pending]
        self._commit(pending, found, checked)
        return True

    def _one(self, update) -> dict:
        try:
            return self.call("on_user_segment_update", [self._request(update)])[0][0]
        except HandlerFailed as failed:
            return {"error": str(failed)}

    def _request(self, update) -> dict:
        return {
            "feed_id": self.feed.pk,
            "session_id": update.session_id,
            "segment_id": self.feed.segment_id,
            "user_identifiers": update.user_identifiers,
            "ts": update.ts,
            "operation": update.operation,
        }

    def _commit(self, pending: list, found: list[dict], checked: bool) -> None:
        handled: dict[str, list[int]] = {UpdateStatus.DONE: [], UpdateStatus.SKIPPED: []}
        failed: dict[int, str] = {}
        lines: list[tuple[str, object]] = []
        retry = None
        for update, answer in zip(pending, found, strict=False):  # unanswered ones stay pending
            try:
                if "error" in answer:
                    raise WrongShape(answer["error"])
                outcome = answers.update(answer.get("value"), batched=self.batched, checked=checked)
            except WrongShape as wrong:
                failed[update.id] = str(wrong)
                continue
            if outcome.status == "retry":
                retry = self._retry(update, outcome, failed)
                if retry:
                    break  # this one and every later one wait, in order
                continue
            if outcome.status == "error":
                failed[update.id] = outcome.message or "The plugin answered error."
            else:
                handled[outcome.status].append(update.id)
                lines.extend(outcome.lines)
        services.updates_handled(
            feed=self.feed, handled=handled, failed=failed, lines=lines, retry=retry
        )

    def _retry(self, update, outcome, failed) -> tuple | None:
        attempts = update.attempts + 1
        message = outcome.message or "The plugin asked to retry."
        if attempts >= settings.FEED_MAX_ATTEMPTS:
            failed[update.id] = f"Gave up after {attempts} attempts: {message}"
            return None
        if outcome.delay_ms is not None:
            delay = timedelta(milliseconds=outcome.delay_ms)
        else:
            delay = leases.backoff(settings.FEED_RETRY_BACKOFF_SECONDS, attempts)
        return update.id, message, delay

    # --- batches -------------------------------------------------------------------------

    def deliver(self, batch: FeedBatch) -> bool:
        if not services.batch_claim(batch):
            return False
        request = {
            "batch_content": services.batch_content(batch),
            "ts": int(timezone.now().timestamp() * 1000),
            "context": {
                "feed_id": self.feed.pk,
                "endpoint": "/v1/external_segment_batch_update",
                "grouping_key": batch.grouping_key,
                "batch_id": str(batch.pk),
                "attempt": batch.attempts,
            },
        }
        log = ""
        try:
            value, log = self.call_one("on_batch_update", request)
            outcome = answers.batch(value)
        except (HandlerFailed, WrongShape) as failed:  # perhaps passing: tried again
            services.batch_retry(batch, str(failed), None, log)
            return True
        services.batch_answered(batch, outcome, log)
        return True
