"""Every change of state of feeds, their updates and their batches, each in one function.

The console, the API, the admin and the commands call the first part; the worker
(apps.feeds.worker) the second. A worker holds a feed while it works on it (a lease,
apps.core.leases): every write of its work checks, in the same transaction, that it
still holds it, so two workers never both commit the same updates or batches."""

import json
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, Min, OuterRef, Q
from django.utils import timezone

from apps.accounts.models import Organisation
from apps.audit import services as audit
from apps.core import handover, leases
from apps.core.errors import TransitionError
from apps.core.text import storable, with_article
from apps.feeds.answers import BatchOutcome
from apps.feeds.models import (
    AudienceSegmentExternalFeed,
    BatchStatus,
    FeedBatch,
    FeedBatchStatusChange,
    FeedBuffer,
    FeedLine,
    FeedLogEntry,
    FeedStatus,
    FeedTraffic,
    SetupStatus,
    UpdateStatus,
    UserSegmentUpdate,
)
from apps.feeds.tasks import run_feed
from apps.plugins.models import PluginVersion
from apps.plugins.property_types import sealed, validate_property_value

Feed = AudienceSegmentExternalFeed
EDITABLE_FEED_FIELDS = ("name", "ram_size", "cpu_size", "disk_size")


class LeaseLost(Exception):
    """This worker no longer holds the feed: another took it over. Its work is dropped."""


# --- Feeds ------------------------------------------------------------------------------


@transaction.atomic
def feed_create(
    *,
    organisation: Organisation,
    version: PluginVersion,
    segment_id: str,
    user=None,
    status: str = FeedStatus.ACTIVE,
    properties: Mapping[str, dict | None] | None = None,
    **fields,
) -> Feed:
    """A feed of `version` for the audience segment `segment_id`. A worker then calls the
    plugin's creation and connection handlers; the feed shows their answers."""
    if unknown := set(fields).difference(EDITABLE_FEED_FIELDS):
        raise TypeError(f"Not feed fields: {', '.join(sorted(unknown))}")
    feed = Feed(
        organisation=organisation,
        version=version,
        segment_id=segment_id,
        status=status,
        created_by=user,
        **fields,
    )
    feed.full_clean()  # the version first: properties are checked against its declarations
    feed.properties = _properties(feed, {}, properties or {})
    feed.save()
    feed_wake(feed.pk)
    audit.record("feed.created", feed, user=user, changes=_property_names(properties))
    return feed


def _property_names(properties) -> dict:
    """Which properties were set or removed: names only, so no secret is ever recorded."""
    return {"properties": [None, sorted(properties)]} if properties else {}


@transaction.atomic
def feed_update(
    *, feed: Feed, user=None, properties: Mapping[str, dict | None] | None = None, **changes
) -> Feed:
    """Change a feed's name, sizes or properties, and its status (through feed_pause or
    feed_resume). A change of properties or sizes restarts its plugin process at the next
    call."""
    if unknown := set(changes).difference((*EDITABLE_FEED_FIELDS, "status")):
        raise TypeError(f"Not editable: {', '.join(sorted(unknown))}")
    feed = Feed.objects.select_for_update().get(pk=feed.pk)
    status = changes.pop("status", feed.status)
    if status not in FeedStatus.values:
        raise ValidationError({"status": f"A feed is ACTIVE or PAUSED, not {status!r}."})
    if changes or properties:
        before = audit.snapshot(feed, changes)
        for name, value in changes.items():
            setattr(feed, name, value)
        if properties:
            feed.properties = _properties(feed, feed.properties, properties)
        feed.full_clean()
        feed.save()
        feed_wake(feed.pk)
        changed = audit.changes_between(before, audit.snapshot(feed, changes))
        audit.record(
            "feed.changed", feed, user=user, changes={**changed, **_property_names(properties)}
        )
    if status != feed.status:
        (feed_pause if status == FeedStatus.PAUSED else feed_resume)(feed=feed, user=user)
    return feed


def feed_pause(*, feed: Feed, user=None) -> Feed:
    """Keep taking and buffering the feed's updates, and deliver nothing."""
    return _set_status(feed, FeedStatus.ACTIVE, FeedStatus.PAUSED, user)


def feed_resume(*, feed: Feed, user=None) -> Feed:
    """Deliver again, starting with what waited."""
    return _set_status(feed, FeedStatus.PAUSED, FeedStatus.ACTIVE, user)


@transaction.atomic
def _set_status(feed: Feed, from_status: str, to_status: str, user=None) -> Feed:
    action = "paused" if to_status == FeedStatus.PAUSED else "resumed"
    if not Feed.objects.filter(pk=feed.pk, status=from_status).update(
        status=to_status, updated_at=timezone.now()
    ):
        feed.refresh_from_db()
        raise TransitionError(
            f"This feed is {feed.status}; only {with_article(from_status)} feed can be {action}."
        )
    audit.record(f"feed.{action}", feed, user=user)
    feed.refresh_from_db()
    feed_wake(feed.pk)
    return feed


@transaction.atomic
def feed_reconnect(*, feed: Feed, user=None) -> Feed:
    """Ask the plugin's creation and connection handlers again (after an error)."""
    Feed.objects.filter(pk=feed.pk).update(
        creation_status=SetupStatus.PENDING,
        connection_status=SetupStatus.PENDING,
        setup_message="",
        setup_attempts=0,
        setup_retry_at=None,
    )
    feed.refresh_from_db()
    feed_wake(feed.pk)
    return feed


@transaction.atomic
def feed_troubleshoot(*, feed: Feed, user=None) -> Feed:
    """Ask the plugin's on_troubleshoot handler; a worker calls it and the feed shows its
    answer."""
    Feed.objects.filter(pk=feed.pk).update(
        troubleshoot_requested_at=timezone.now(), troubleshoot_answered_at=None
    )
    feed.refresh_from_db()
    feed_wake(feed.pk)
    return feed


def _properties(feed: Feed, current: dict, values: Mapping[str, dict | None]) -> dict:
    """The feed's own property values with `values` applied (None removes one), each
    checked against its version's declaration."""
    declared = {prop.technical_name: prop for prop in feed.version.properties.all()}
    merged, errors = dict(current), {}
    for name, value in values.items():
        key = f"properties.{name}"
        prop = declared.get(name)
        if prop is None:
            errors[key] = [f"Version {feed.version.version_id} declares no property {name!r}."]
        elif value is None:
            merged.pop(name, None)
        elif not prop.writable:
            errors[key] = [f"{name} is not writable: a feed cannot override it."]
        else:
            try:
                validate_property_value(prop.property_type, value)
            except ValidationError as error:
                errors[key] = error.messages
            else:
                merged[name] = sealed(prop.property_type, value)  # a SECRET is encrypted
    if errors:
        raise ValidationError(errors)
    return merged


# --- Updates in --------------------------------------------------------------------------


@transaction.atomic
def updates_receive(*, feed: Feed, updates: list[dict]) -> int:
    """Store unit updates (already checked: apps.feeds.intake) durably, in arrival order;
    a worker then takes them through the plugin. Returns how many were stored."""
    now = timezone.now()
    now_ms = int(now.timestamp() * 1000)
    UserSegmentUpdate.objects.bulk_create(
        [
            UserSegmentUpdate(
                feed_id=feed.pk,
                session_id=update.get("session_id", ""),
                user_identifiers=update["user_identifiers"],
                operation=update["operation"],
                ts=update.get("ts", now_ms),
                received_at=now,
            )
            for update in updates
        ],
        batch_size=1000,
    )
    feed_wake(feed.pk)
    return len(updates)


# --- Batches, for people ---------------------------------------------------------------------


@transaction.atomic
def batch_replay(*, batch: FeedBatch, user=None) -> FeedBatch:
    """Deliver a FAILED batch again, with its lines, from a first attempt."""
    _move(
        batch,
        [BatchStatus.FAILED],
        BatchStatus.PENDING,
        user=user,
        reason="Replayed.",
        attempts=0,
        next_attempt_at=None,
        ended_at=None,
    )
    feed_wake(batch.feed_id)
    return batch


def _move(
    batch: FeedBatch, from_statuses, to_status, *, user=None, reason="", only_if=None, **fields
):
    with transaction.atomic():
        old = FeedBatch.objects.filter(pk=batch.pk).values_list("status", flat=True).first()
        changed = FeedBatch.objects.filter(
            only_if or Q(), pk=batch.pk, status__in=from_statuses
        ).update(status=to_status, **fields)
        batch.refresh_from_db()
        if not changed:
            raise TransitionError(
                f"This batch is {batch.status}; only "
                f"{with_article(' or '.join(from_statuses))} batch can become {to_status}."
            )
        FeedBatchStatusChange.objects.create(
            batch=batch, from_status=old or "", to_status=to_status, user=user, reason=reason[:500]
        )
    return batch


# --- Waking the workers ---------------------------------------------------------------------


def feed_wake(feed_id: int, at: datetime | None = None) -> None:
    """Have a worker look at the feed at `at` (now by default), unless one is already due
    to by then: one task in the queue per feed, not one per update."""
    now = timezone.now()
    at = max(at or now, now)
    with transaction.atomic():
        woken = Feed.objects.filter(Q(wake_at__isnull=True) | Q(wake_at__gt=at), pk=feed_id).update(
            wake_at=at
        )
        if woken:
            transaction.on_commit(lambda: _enqueue(feed_id, at))


def _enqueue(feed_id: int, at: datetime) -> None:
    task_id = handover.enqueue(run_feed, feed_id, run_after=at if at > timezone.now() else None)
    Feed.objects.filter(pk=feed_id, wake_at=at).update(dispatch_task_id=task_id)


def feed_woken(feed_id: int) -> None:
    """A task for the feed has started: a later need to wake it queues another."""
    Feed.objects.filter(pk=feed_id, wake_at__lte=timezone.now()).update(wake_at=None)


def feeds_wake_stalled(*, now: datetime | None = None) -> int:
    """Wake feeds that have work but no worker and no live task: their worker was killed,
    or the queue lost the task. Returns how many were woken."""
    now = now or timezone.now()
    free = Q(worker="") | Q(heartbeat_at__lt=leases.silent_since(now))
    stale = now - timedelta(seconds=settings.REDISPATCH_AFTER_SECONDS)
    candidates = list(
        with_work()
        .filter(free)
        .filter(Q(wake_at__isnull=True) | Q(wake_at__lt=stale))
        .only("pk", "dispatch_task_id", "wake_at")
    )
    waiting = [feed for feed in candidates if feed.wake_at is not None]
    lost = handover.lost(
        run_feed, [feed.dispatch_task_id for feed in waiting], stuck_after=leases.timeout()
    )
    woken = 0
    for feed in candidates:
        if feed.wake_at is None or feed.dispatch_task_id in lost:
            Feed.objects.filter(pk=feed.pk).update(wake_at=None)
            feed_wake(feed.pk)
            woken += 1
    return woken


def with_work():
    """Feeds with something for a worker to do, now or at a later time."""
    pending = UserSegmentUpdate.objects.filter(feed=OuterRef("pk"), status=UpdateStatus.PENDING)
    buffered = FeedBuffer.objects.filter(feed=OuterRef("pk"), size__gt=0)
    open_batches = FeedBatch.objects.filter(feed=OuterRef("pk"), status__in=BatchStatus.open())
    unsettled = [SetupStatus.PENDING, SetupStatus.NOT_READY]
    return Feed.objects.filter(
        Q(Exists(pending))
        | Q(Exists(buffered))
        | Q(Exists(open_batches))
        | Q(creation_status__in=unsettled)
        | Q(connection_status__in=unsettled)
        | Q(troubleshoot_requested_at__isnull=False, troubleshoot_answered_at__isnull=True)
    )


# --- The worker's side -----------------------------------------------------------------------


def feed_claim(feed_id: int) -> Feed | None:
    """Hold the feed to work on it, if no live worker holds it."""
    free = Q(worker="") | Q(heartbeat_at__lt=leases.silent_since())
    if not leases.claim(Feed.objects.filter(free, pk=feed_id)):
        return None
    return Feed.objects.select_related("version__plugin", "version__batching_configuration").get(
        pk=feed_id
    )


def feed_release(feed: Feed) -> None:
    Feed.objects.filter(pk=feed.pk, worker=leases.WORKER_ID).update(worker="", heartbeat_at=None)


def feed_heartbeat(feed: Feed) -> None:
    """Say this worker still holds the feed (and the batch it is delivering); LeaseLost if
    it does not."""
    if not leases.heartbeat(Feed.objects.filter(pk=feed.pk, worker=leases.WORKER_ID)):
        raise LeaseLost(f"Feed {feed.pk} was taken over by another worker.")
    FeedBatch.objects.filter(
        feed=feed, status=BatchStatus.DELIVERING, worker=leases.WORKER_ID
    ).update(heartbeat_at=timezone.now())


def _still_held(feed: Feed) -> None:
    """Inside a transaction: lock the feed row as this worker's, or LeaseLost."""
    if not Feed.objects.filter(pk=feed.pk, worker=leases.WORKER_ID).update(
        heartbeat_at=timezone.now()
    ):
        raise LeaseLost(f"Feed {feed.pk} was taken over by another worker.")


@transaction.atomic
def feed_log(feed: Feed, handler: str, text: str) -> None:
    if text:
        FeedLogEntry.objects.create(feed=feed, handler=handler, text=storable(text))


@transaction.atomic
def feed_setup_answered(feed: Feed, handler: str, status: str, message: str) -> Feed:
    """Record what the creation or connection handler answered; an answer of not ready
    yet is asked again after a back-off, up to FEED_MAX_ATTEMPTS."""
    _still_held(feed)
    field = "creation_status" if handler == "on_external_segment_creation" else "connection_status"
    attempts = feed.setup_attempts + 1
    retry_at = None
    if status == SetupStatus.NOT_READY:
        if attempts >= settings.FEED_MAX_ATTEMPTS:
            status = SetupStatus.ERROR
            message = f"Still not ready after {attempts} attempts. {message}".strip()
        else:
            retry_at = timezone.now() + leases.backoff(
                settings.FEED_RETRY_BACKOFF_SECONDS, attempts
            )
    fields = {
        field: status,
        "setup_message": f"{handler}: {status}" + (f" — {message}" if message else ""),
        "setup_attempts": 0 if status == SetupStatus.OK else attempts,
        "setup_retry_at": retry_at,
    }
    Feed.objects.filter(pk=feed.pk).update(**fields)
    for name, value in fields.items():
        setattr(feed, name, value)
    return feed


@transaction.atomic
def feed_troubleshoot_answered(feed: Feed, answer: dict) -> None:
    _still_held(feed)
    Feed.objects.filter(pk=feed.pk).update(
        troubleshoot_answer=answer, troubleshoot_answered_at=timezone.now()
    )


@transaction.atomic
def updates_handled(
    *,
    feed: Feed,
    handled: Mapping[str, list[int]],
    failed: Mapping[int, str],
    lines: list[tuple[str, object]],
    retry: tuple[int, str, timedelta] | None = None,
) -> None:
    """Commit what the plugin made of a run of updates, all at once: their statuses
    (`handled` ids by status, `failed` ids with their messages) and the lines they became.
    With `retry` (an update's id, the message, the delay), that update waits and the
    feed's next updates wait behind it. A worker that lost the feed commits nothing."""
    _still_held(feed)
    now = timezone.now()
    expected = sum(map(len, handled.values())) + len(failed)
    changed = 0
    for status, ids in handled.items():
        if ids:
            changed += UserSegmentUpdate.objects.filter(
                pk__in=ids, status=UpdateStatus.PENDING
            ).update(status=status, handled_at=now, attempts=F("attempts") + 1)
    for pk, message in failed.items():
        changed += UserSegmentUpdate.objects.filter(pk=pk, status=UpdateStatus.PENDING).update(
            status=UpdateStatus.FAILED, handled_at=now, message=storable(message)[:5000]
        )
    if changed != expected:
        raise LeaseLost(f"Feed {feed.pk}'s updates were handled elsewhere meanwhile.")
    _store_lines(feed, lines, now)
    resume_at = None
    if retry is not None:
        pk, message, delay = retry
        UserSegmentUpdate.objects.filter(pk=pk).update(
            attempts=F("attempts") + 1, message=storable(message)[:5000]
        )
        resume_at = now + delay
    Feed.objects.filter(pk=feed.pk).update(updates_resume_at=resume_at)
    feed.updates_resume_at = resume_at


def _store_lines(feed: Feed, lines: list[tuple[str, object]], now: datetime) -> None:
    """Add lines (storable already: apps.feeds.answers) to the feed's buffers. On
    PostgreSQL by COPY: a few thousand lines a call, the feed's busiest write."""
    if not lines:
        return
    if connection.vendor == "postgresql":
        table = FeedLine._meta.db_table
        with (
            connection.cursor() as cursor,
            cursor.copy(
                f'COPY "{table}" (feed_id, grouping_key, data, created_at) FROM STDIN'
            ) as copy,
        ):
            for key, data in lines:
                copy.write_row((feed.pk, key, json.dumps(data), now))
    else:
        FeedLine.objects.bulk_create(
            [FeedLine(feed_id=feed.pk, grouping_key=k, data=d, created_at=now) for k, d in lines],
            batch_size=2000,
        )
    _grow_buffers(feed, Counter(key for key, _ in lines), now)
    _count_traffic(feed, now, lines_in=len(lines))


def _count_traffic(feed: Feed, now: datetime, *, lines_in: int = 0, lines_out: int = 0) -> None:
    """Add to this minute's counts of the feed's lines (one upsert)."""
    table = connection.ops.quote_name(FeedTraffic._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (feed_id, minute, lines_in, lines_out) VALUES (%s, %s, %s, %s) "
            f"ON CONFLICT (feed_id, minute) DO UPDATE SET "
            f"lines_in = {table}.lines_in + excluded.lines_in, "
            f"lines_out = {table}.lines_out + excluded.lines_out",
            [feed.pk, now.replace(second=0, microsecond=0), lines_in, lines_out],
        )


def _grow_buffers(feed: Feed, added: Counter, now: datetime) -> None:
    """Count lines into their keys' buffers: one upsert (PostgreSQL and SQLite both have
    INSERT … ON CONFLICT), a new buffer's oldest line being now."""
    table = connection.ops.quote_name(FeedBuffer._meta.db_table)
    rows = ", ".join(["(%s, %s, %s, %s, 0)"] * len(added))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (feed_id, grouping_key, size, oldest, taken_up_to) "
            f"VALUES {rows} ON CONFLICT (feed_id, grouping_key) DO UPDATE SET "
            f"size = {table}.size + excluded.size, "
            f"oldest = COALESCE({table}.oldest, excluded.oldest)",
            [value for key, count in added.items() for value in (feed.pk, key, count, now)],
        )


@transaction.atomic
def buffers_flush(*, feed: Feed, now: datetime | None = None) -> int:
    """Turn buffered lines into batches: each grouping key's buffer in batches of
    batch_flush_max_size lines, in arrival order, and what is left once its oldest line
    has waited FEED_FLUSH_INTERVAL_SECONDS. Returns how many batches were formed."""
    now = now or timezone.now()
    batching = feed.batching
    if batching is None or feed.status != FeedStatus.ACTIVE:
        return 0
    _still_held(feed)
    size = batching.batch_flush_max_size
    old_enough = now - timedelta(seconds=settings.FEED_FLUSH_INTERVAL_SECONDS)
    formed = 0
    for buffer in FeedBuffer.objects.filter(feed=feed, size__gt=0).filter(
        Q(size__gte=size) | Q(oldest__lte=old_enough)
    ):
        while buffer.size >= size:
            _form_batch(feed, buffer, size, "size", now)
            formed += 1
        if buffer.size and buffer.oldest and buffer.oldest <= old_enough:
            _form_batch(feed, buffer, buffer.size, "age", now)
            formed += 1
        FeedBuffer.objects.filter(pk=buffer.pk).update(
            size=buffer.size, oldest=buffer.oldest, taken_up_to=buffer.taken_up_to
        )
    return formed


def _form_batch(feed: Feed, buffer: FeedBuffer, size: int, reason: str, now: datetime) -> None:
    """The buffer's `size` oldest lines as a new batch; the buffer (saved by the caller)
    then starts after them."""
    taken = list(
        FeedLine.objects.filter(
            feed=feed, grouping_key=buffer.grouping_key, id__gt=buffer.taken_up_to
        )
        .order_by("id")
        .values_list("id", "created_at")[: size + 1]
    )
    batch = FeedBatch.objects.create(
        feed=feed,
        grouping_key=buffer.grouping_key,
        line_count=size,
        first_line_id=taken[0][0],
        last_line_id=taken[size - 1][0],
        flushed_because=reason,
        created_at=now,
    )
    FeedBatchStatusChange.objects.create(
        batch=batch, to_status=BatchStatus.PENDING, reason=f"Flushed by {reason}.", created_at=now
    )
    buffer.size -= size
    buffer.taken_up_to = batch.last_line_id
    buffer.oldest = taken[size][1] if len(taken) > size else None


def batches_due(feed: Feed, now: datetime | None = None) -> list[FeedBatch]:
    """Of each grouping key, its oldest open batch, if it may be delivered now: waiting,
    due for a retry, or held by a worker that went silent. A key's later batches wait for
    it, so that one user's lines keep their order."""
    now = now or timezone.now()
    if feed.status != FeedStatus.ACTIVE:
        return []
    first_by_key: dict[str, FeedBatch] = {}
    for batch in FeedBatch.objects.filter(feed=feed, status__in=BatchStatus.open()).order_by(
        "grouping_key", "first_line_id"
    ):
        first_by_key.setdefault(batch.grouping_key, batch)
    silent = leases.silent_since(now)
    return [
        batch
        for batch in first_by_key.values()
        if batch.status == BatchStatus.PENDING
        or (batch.status == BatchStatus.RETRYING and (batch.next_attempt_at or now) <= now)
        or (batch.status == BatchStatus.DELIVERING and (batch.heartbeat_at or now) < silent)
    ]


def batch_claim(batch: FeedBatch) -> bool:
    """Take the batch to deliver it: one conditional update, as every lease."""
    with transaction.atomic():
        free = Q(status__in=[BatchStatus.PENDING, BatchStatus.RETRYING]) | Q(
            status=BatchStatus.DELIVERING, heartbeat_at__lt=leases.silent_since()
        )
        old = batch.status
        if not leases.claim(
            FeedBatch.objects.filter(free, pk=batch.pk),
            status=BatchStatus.DELIVERING,
            attempts=F("attempts") + 1,
        ):
            return False
        batch.refresh_from_db()
        reason = f"Attempt {batch.attempts}."
        if old == BatchStatus.DELIVERING:
            reason = f"Attempt {batch.attempts}: the worker of the previous one was lost."
        FeedBatchStatusChange.objects.create(
            batch=batch, from_status=old, to_status=BatchStatus.DELIVERING, reason=reason
        )
    return True


def batch_content(batch: FeedBatch) -> list:
    return list(batch.lines.order_by("id").values_list("data", flat=True))


def batch_answered(batch: FeedBatch, outcome: BatchOutcome, log: str) -> FeedBatch:
    """Record what on_batch_update answered: OK delivers the batch; RETRY delivers it again
    after next_msg_delay_in_ms (or the back-off) until FEED_MAX_ATTEMPTS; ERROR fails it
    with its message, its lines kept for a replay."""
    now = timezone.now()
    held = Q(worker=leases.WORKER_ID)
    common = {"log": storable(log)[-64_000:], "message": storable(outcome.message)}
    if outcome.status == "OK":
        with transaction.atomic():
            _move(
                batch,
                [BatchStatus.DELIVERING],
                BatchStatus.DELIVERED,
                only_if=held,
                reason="Delivered.",
                delivered_at=now,
                ended_at=now,
                send_items_in_success=outcome.in_success,
                send_items_in_error=outcome.in_error,
                **common,
            )
            _count_traffic(batch.feed, now, lines_out=batch.line_count)
        return batch
    if outcome.status == "RETRY":
        return batch_retry(
            batch, outcome.message or "The plugin asked to retry.", outcome.delay_ms, log
        )
    return _move(
        batch,
        [BatchStatus.DELIVERING],
        BatchStatus.FAILED,
        only_if=held,
        reason=(outcome.message or "The plugin answered ERROR.")[:500],
        ended_at=now,
        send_items_in_success=outcome.in_success,
        send_items_in_error=outcome.in_error,
        **common,
    )


def batch_retry(batch: FeedBatch, message: str, delay_ms: int | None, log: str = "") -> FeedBatch:
    """Deliver the batch again later (after `delay_ms`, or the doubling back-off), or fail
    it once it has had FEED_MAX_ATTEMPTS attempts."""
    now = timezone.now()
    held = Q(worker=leases.WORKER_ID)
    common = {"log": storable(log)[-64_000:], "message": storable(message)[:5000]}
    if batch.attempts >= settings.FEED_MAX_ATTEMPTS:
        return _move(
            batch,
            [BatchStatus.DELIVERING],
            BatchStatus.FAILED,
            only_if=held,
            reason=f"Gave up after {batch.attempts} attempts: {message}"[:500],
            ended_at=now,
            **common,
        )
    if delay_ms is not None:
        delay = timedelta(milliseconds=delay_ms)
    else:
        delay = leases.backoff(settings.FEED_RETRY_BACKOFF_SECONDS, batch.attempts)
    return _move(
        batch,
        [BatchStatus.DELIVERING],
        BatchStatus.RETRYING,
        only_if=held,
        reason=f"Retry in {delay.total_seconds():g} s: {message}"[:500],
        next_attempt_at=now + delay,
        **common,
    )


def feed_next_wake(feed: Feed) -> datetime | None:
    """When the feed next has something to do by the clock: a buffer old enough to flush,
    a batch to retry, updates to resume, a setup to ask again."""
    times = []
    if feed.setup_retry_at:
        times.append(feed.setup_retry_at)
    if feed.updates_resume_at and feed.updates.filter(status=UpdateStatus.PENDING).exists():
        times.append(feed.updates_resume_at)
    if feed.status == FeedStatus.ACTIVE:
        retry = (
            feed.batches.filter(status=BatchStatus.RETRYING)
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if retry:
            times.append(retry)
        if feed.batching is not None:
            oldest = feed.buffers.filter(size__gt=0).aggregate(oldest=Min("oldest"))["oldest"]
            if oldest:
                times.append(oldest + timedelta(seconds=settings.FEED_FLUSH_INTERVAL_SECONDS))
    return min(times) if times else None
