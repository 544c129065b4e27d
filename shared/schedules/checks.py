"""What `config check` says about the `schedules:` section beyond its shape.

Findings are (path, message) pairs, placed on their line by the routing
layer's config check, as shared.notices.checks does for notices.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime

from shared.schedules.gaps import describe, gaps
from shared.schedules.model import Schedule, Window
from shared.schedules.resolve import wall_instant

Loc = tuple[str | int, ...]

GAP_DAYS = 14  # two weeks show a weekly pattern twice


def schedule_problems(schedules: Mapping[str, Schedule]) -> Iterator[tuple[Loc, str]]:
    """Layers and windows that cover nothing: a rota that looks right and pages nobody."""
    for name, schedule in schedules.items():
        for index, layer in enumerate(schedule.layers):
            loc: Loc = ("schedules", name, "layers", index, "restrict")
            if layer.restrict == ():
                yield (
                    loc,
                    (
                        "covers nothing: no windows (leave `restrict` out for a layer that "
                        "always covers)"
                    ),
                )
                continue
            for number, window in enumerate(layer.restrict or ()):
                reason = _why_empty(window)
                if reason is not None:
                    yield (*loc, number), f"covers nothing: {reason}"


def _why_empty(window: Window) -> str | None:
    if not window.days:
        return "no days"
    if window.start == window.end:
        clock = f"{window.start // 60:02d}:{window.start % 60:02d}"
        return f'"from" and "to" are both {clock} (a whole day is from "00:00" to "24:00")'
    return None


def gap_problems(schedules: Mapping[str, Schedule], now: datetime) -> Iterator[tuple[Loc, str]]:
    """Each time nobody is on call in the next GAP_DAYS days from today's local midnight.

    Reported by `config check` only: a gap depends on the date (a rotation
    that starts next week), and a step whose schedule has nobody moves on to
    the next step at run time rather than stopping paging.
    """
    for name, schedule in schedules.items():
        zone = schedule.zone
        midnight = wall_instant(now.astimezone(zone).date(), 0, zone)
        found = gaps(schedule, midnight, days=GAP_DAYS)
        for message in describe(found, zone):
            yield ("schedules", name), message
