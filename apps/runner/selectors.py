"""Reads of the runner's records for the console."""

from datetime import datetime, timedelta

from apps.runner.models import Worker

RECENT = timedelta(days=1)


def isolation_warnings(now: datetime) -> list[str]:
    """What recently seen workers lack of production's plugin isolation, each once."""
    weak = Worker.objects.filter(seen_at__gte=now - RECENT, production_grade=False)
    return sorted(set(weak.values_list("isolation", flat=True)))
