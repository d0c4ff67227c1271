"""A stacked bar chart of executions per day by status, drawn as SVG on the server: no
chart library to load, readable without JavaScript, with a table of the same numbers.
Its bars, numbers, dates and links are written out here, not by the template: localizing
its hundred-odd floats and dates, and reversing a URL per bar, took 23 ms of the
dashboard's 100 (1,000,000 executions, the development machine), and the template's
seven lookups a bar 3 ms more."""

import math
from dataclasses import dataclass

from django.urls import reverse
from django.utils.safestring import mark_safe

from apps.scheduling.models import ExecutionStatus

WIDTH, HEIGHT, GAP = 700, 200, 6
COLOURS = {
    ExecutionStatus.SUCCEEDED: "#1a7f37",
    ExecutionStatus.FAILED: "#b42318",
    ExecutionStatus.CANCELED: "#8c959f",
    ExecutionStatus.RUNNING: "#1f5fbf",
    ExecutionStatus.PENDING: "#d4a72c",
}


@dataclass(frozen=True)
class Tick:
    y: str
    value: int


def _svg(number: float) -> str:
    return f"{number:.1f}"


def y_axis(days, per_day: dict) -> list[Tick]:
    """Gridline values for the chart's y-axis: 0 and up to four round steps to the top."""
    top = max((sum(per_day.get((day, s), 0) for s in COLOURS) for day in days), default=0)
    if not top:
        return [Tick(_svg(HEIGHT), 0)]
    magnitude = 10 ** math.floor(math.log10(top))
    step = next(
        m * magnitude for m in (0.1, 0.2, 0.25, 0.5, 1, 2, 5, 10) if top / (m * magnitude) <= 4
    )
    step = max(int(step), 1)
    return [Tick(_svg(HEIGHT - value * HEIGHT / top), value) for value in range(0, top + 1, step)]


def stacked_bars(days, per_day: dict) -> tuple[str, list[dict]]:
    """The bars, as SVG (each opening the runs it counts), and one row per day (for the
    table and the axis labels)."""
    executions = reverse("executions")
    totals = [sum(per_day.get((day, status), 0) for status in COLOURS) for day in days]
    scale = HEIGHT / max(max(totals, default=0), 1)
    slot = WIDTH / len(days)
    bars, rows = [], []
    for index, day in enumerate(days):
        bottom = HEIGHT
        for status, colour in COLOURS.items():
            count = per_day.get((day, status), 0)
            if count:
                height = count * scale
                bottom -= height
                bars.append(
                    f'<a href="{executions}?status={status}&amp;from_date={day}&amp;to_date={day}">'
                    f'<rect x="{_svg(index * slot + GAP / 2)}" y="{_svg(bottom)}" '
                    f'width="{_svg(slot - GAP)}" height="{_svg(height)}" fill="{colour}" rx="2">'
                    f"<title>{day:%b %d}: {count} {status}</title></rect></a>"
                )
        rows.append(
            {
                "day": day.isoformat(),
                "label": f"{day:%b} {day.day}",
                "total": str(totals[index]),
                "x": _svg(index * slot + slot / 2),
                "counts": [str(per_day.get((day, status), 0)) for status in COLOURS],
            }
        )
    return mark_safe("".join(bars)), rows  # nothing in them anyone typed
