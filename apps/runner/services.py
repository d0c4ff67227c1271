"""The runner's own records: the workers and how well they confine plugin code."""

from datetime import timedelta

from django.utils import timezone

from apps.runner import isolation
from apps.runner.models import Worker

# A worker reports itself when it starts and then at most this often: its row says it is
# alive without costing a query per run.
CHECK_IN_EVERY = timedelta(minutes=10)
FORGET_AFTER = timedelta(days=7)
_last_check_in: dict[str, object] = {}


def worker_check_in(name: str) -> None:
    """Record that worker `name` is alive, with its isolation, and log a warning the first
    time if that isolation is weaker than production's."""
    now = timezone.now()
    last = _last_check_in.get(name)
    if last is not None and now - last < CHECK_IN_EVERY:
        return
    found = isolation.probe()
    Worker.objects.update_or_create(
        name=name,
        defaults={
            "seen_at": now,
            "isolation": found.summary(),
            "production_grade": found.production_grade,
        },
    )
    if last is None:
        Worker.objects.filter(seen_at__lt=now - FORGET_AFTER).delete()
        if not found.production_grade:
            isolation.logger.warning(
                "Plugin isolation on %s is weaker than production's: %s", name, found.summary()
            )
    _last_check_in[name] = now
