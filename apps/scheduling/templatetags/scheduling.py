import json
import re
from datetime import UTC, timedelta
from html import escape

from django import template
from django.utils import timezone
from django.utils.safestring import mark_safe

from apps.core.templatetags.console import around_the_id
from apps.scheduling.cron import describe_cron

register = template.Library()


@register.filter
def cron_description(expression: str) -> str:
    """ "0 2 * * *" → "At 02:00, every day"."""
    try:
        return describe_cron(expression)
    except Exception:
        return ""


@register.filter
def json_pretty(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@register.filter
def duration(value: timedelta | None) -> str:
    """2.2 s, 3 min 05 s, 2 h 03 min: as precise as a person needs."""
    if value is None:
        return ""
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


LEVEL = re.compile(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b")
TRACEBACK = "Traceback (most recent call last)"


@register.filter
def log_lines(text: str) -> str:
    """The log as one element per line, each with the level it names (if any), for the
    log viewer to filter: a traceback's lines, its last naming the exception, are errors."""
    lines, in_traceback = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith(TRACEBACK):
            level, in_traceback = "ERROR", True
        elif in_traceback:
            level, in_traceback = "ERROR", line.startswith((" ", "\t"))
        else:
            named = LEVEL.search(line[:80])
            level = named.group(1) if named else ""
        lines.append(f'<span class="line" data-level="{level}">{escape(line)}</span>')
    return mark_safe("".join(lines))  # the text of each line is escaped; levels are words


@register.filter
def slower(history, execution) -> bool:
    """Whether a running execution has gone on longer than its instance's usual p95."""
    return bool(history) and history.slower_than_usual(execution, timezone.now())


@register.filter
def time_left(execution) -> timedelta | None:
    """A running execution's remaining time, if its tasks go on at the pace they went."""
    done, total = execution.completed_tasks or 0, execution.num_tasks or 0
    if execution.status != "RUNNING" or not execution.start_date or not 0 < done < total:
        return None
    return (timezone.now() - execution.start_date) * (total - done) / done


@register.simple_tag
def run_cells(history) -> str:
    """An instance's run history as coloured cells, each opening its run. Built here, not
    by a template per cell: a list shows 30 of them for every instance."""
    if not history.runs:
        return mark_safe('<span class="muted">no runs yet</span>')
    head, tail = around_the_id("execution")
    cells = "".join([_cell(run, head, tail) for run in history.runs])
    return mark_safe(
        f'<span class="runs" role="list" aria-label="Its last {len(history.runs)} runs, '
        f'oldest first">{cells}</span>'
    )


def _cell(run, head: str, tail: str) -> str:
    """Plain strings, not escaped: ids, statuses, durations and dates, nothing anyone typed
    (format_html per cell cost more than the rest of an instances list)."""
    span = run.duration
    what = f"{run.pk} {run.status}{f' in {duration(span)}' if span else ''}"
    when = run.expected_start_date.astimezone(UTC).isoformat(" ", "seconds")[:19]
    return (
        f'<a role="listitem" href="{head}{run.pk}{tail}" class="status-{run.status}" '
        f'title="#{what} · {when} UTC" aria-label="Execution {what}"></a>'
    )
