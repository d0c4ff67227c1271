"""Reads of feeds: what a feed's plugin sees of its properties, its buffers, and the
counts the console charts."""

from datetime import datetime, timedelta

from django.db.models import Count

from apps.feeds.models import (
    AudienceSegmentExternalFeed,
    BatchStatus,
    FeedBatch,
    FeedBuffer,
    UpdateStatus,
)
from apps.plugins.models import PropertyOrigin
from apps.plugins.property_types import revealed, shown


def feeds_listed():
    """Feeds with what lists show of them, in a fixed number of queries."""
    return AudienceSegmentExternalFeed.objects.select_related(
        "version__plugin", "version__batching_configuration"
    ).order_by("-created_at", "-id")


def merged_properties(feed: AudienceSegmentExternalFeed, *, reveal: bool = False) -> dict:
    """Each property of the feed's version, with the feed's own value where it has one:
    as its plugin's context.properties holds them (`reveal`: SECRETs in clear), or as
    people see them (a SECRET only as set)."""
    own = feed.properties or {}
    show = revealed if reveal else shown
    return {
        prop.technical_name: {
            "property_type": prop.property_type,
            "value": show(prop.property_type, own.get(prop.technical_name, prop.value)),
            "origin": PropertyOrigin.INSTANCE if prop.technical_name in own else prop.origin,
        }
        for prop in feed.version.properties.all()
    }


def buffers(feed: AudienceSegmentExternalFeed) -> list[FeedBuffer]:
    """The lines waiting for a batch, by grouping key: how many, and since when."""
    return list(feed.buffers.filter(size__gt=0).order_by("grouping_key"))


def batch_counts(feed: AudienceSegmentExternalFeed) -> dict[str, int]:
    """How many of the feed's batches wait, are being delivered, are retrying, or failed
    (each by a partial index; delivered ones are counted in the chart's lines out)."""
    counted = dict(
        FeedBatch.objects.filter(feed=feed, status__in=[*BatchStatus.open(), BatchStatus.FAILED])
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {
        status: counted.get(status, 0)
        for status in BatchStatus.values
        if status != BatchStatus.DELIVERED
    }


def lines_over_time(
    feed: AudienceSegmentExternalFeed, now: datetime, minutes: int = 60
) -> list[tuple[datetime, int, int]]:
    """Lines in (buffered) and out (delivered) per minute over the last `minutes`."""
    since = (now - timedelta(minutes=minutes)).replace(second=0, microsecond=0)
    counted = {
        minute: (lines_in, lines_out)
        for minute, lines_in, lines_out in feed.traffic.filter(minute__gte=since).values_list(
            "minute", "lines_in", "lines_out"
        )
    }
    minute_points = [since + timedelta(minutes=i) for i in range(minutes + 1)]
    return [(m, *counted.get(m, (0, 0))) for m in minute_points]


def update_problems(feed: AudienceSegmentExternalFeed, latest: int = 10):
    """How many updates wait and how many failed, and the latest failures with their
    reasons (each count served by its own partial index)."""
    pending = feed.updates.filter(status=UpdateStatus.PENDING)
    failed = feed.updates.filter(status=UpdateStatus.FAILED)
    return {
        "pending": pending.count(),
        "failed": failed.count(),
        "latest_failed": list(failed.order_by("-id")[:latest]),
    }
