"""Times at which a schedule's own rotation puts nobody on call, and how to say so.

A gap is found from the file alone (overrides ignored): an override is a
stop-gap someone has to remember, and the rotation must cover on its own.
`describe` words gaps the way a person reads a rota: a gap that comes back
every week at the same local times is named by its weekdays ("no one on call
Saturdays 00:00–08:00 (Europe/Berlin)"); one that does not recur is named by
its dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from shared.schedules.model import MINUTES_PER_DAY, Schedule
from shared.schedules.resolve import as_utc, from_layers, possible_changes, wall_instant

_TICK = timedelta(microseconds=1)
_MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class Gap:
    """Nobody is on call from `start` to `end` (UTC).

    `began_before` / `lasts_beyond`: nobody was on call just before `start`
    (or at `end`) either; the gap was cut by the range asked about.
    """

    start: datetime
    end: datetime
    began_before: bool = False
    lasts_beyond: bool = False


def gaps(schedule: Schedule, start: datetime, days: int = 14) -> list[Gap]:
    """The gaps in [start, the same local time `days` calendar days later)."""
    begin = as_utc(start)
    local = begin.astimezone(schedule.zone)
    end = wall_instant(local.date() + timedelta(days=days), local.time(), schedule.zone)
    found: list[Gap] = []
    opened = None if from_layers(schedule, begin) else begin
    for moment in possible_changes(schedule, begin + _TICK, end):
        nobody = not from_layers(schedule, moment)
        if nobody and opened is None:
            opened = moment
        elif not nobody and opened is not None:
            found.append(Gap(opened, moment))
            opened = None
    if opened is not None:
        found.append(Gap(opened, end))
    if found and found[0].start == begin and not from_layers(schedule, begin - _TICK):
        found[0] = replace(found[0], began_before=True)
    if found and found[-1].end == end and not from_layers(schedule, end):
        found[-1] = replace(found[-1], lasts_beyond=True)
    return found


@dataclass(frozen=True)
class _Local:
    """A gap on the wall clock: where it falls in the week, and for how long."""

    gap: Gap
    start: datetime  # naive, local
    end: datetime

    @property
    def week_minute(self) -> int:
        return self.start.weekday() * MINUTES_PER_DAY + self.start.hour * 60 + self.start.minute

    @property
    def length(self) -> int:
        return (self.end - self.start) // timedelta(minutes=1)

    @property
    def key(self) -> tuple[int, int]:
        return self.week_minute, self.length

    @property
    def cut(self) -> bool:
        return self.gap.began_before or self.gap.lasts_beyond


def describe(found: Sequence[Gap], tz: tzinfo | str) -> list[str]:
    """One sentence per weekly pattern (weekdays with the same local times together), and
    one per gap that does not recur, in the order they first happen."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    label = getattr(zone, "key", None) or str(zone)
    local = [
        _Local(gap, _wall(gap.start, zone), _wall(gap.end, zone))
        for gap in sorted(found, key=lambda g: g.start)
    ]
    weekly, once = _weekly(local)
    told: list[tuple[datetime, str]] = []
    by_times: dict[tuple[int, int], list[tuple[int, datetime]]] = {}
    for (week_minute, length), seen in weekly.items():
        day, minute = divmod(week_minute, MINUTES_PER_DAY)
        if _same_or_next_day(minute, length):
            by_times.setdefault((minute, length), []).append((day, seen[0].gap.start))
        else:
            told.append((seen[0].gap.start, f"from {_weekly_span(week_minute, length)}"))
    for (minute, length), days in by_times.items():
        names = _day_list(sorted({day for day, _ in days}))
        text = f"{names} {_clock(minute)}–{_end_clock(minute, length)}"
        told.append((min(since for _, since in days), text))
    told += [(seen.gap.start, _dated(seen)) for seen in once]
    return [f"no one on call {text} ({label})" for _, text in sorted(told)]


def _weekly(local: list[_Local]) -> tuple[dict[tuple[int, int], list[_Local]], list[_Local]]:
    """Gaps grouped by week minute and length, the groups seen twice or more; the rest.

    A gap cut by the range counts towards the whole gap it is the end (or the
    beginning) of, so a weekly gap across the range's edge is still weekly.
    """
    groups: dict[tuple[int, int], list[_Local]] = {}
    for seen in local:
        if not seen.cut:
            groups.setdefault(seen.key, []).append(seen)
    rest: list[_Local] = []
    for seen in local:
        if not seen.cut:
            continue
        key = next((key for key in groups if _part_of(seen, key)), None)
        if key is None:
            rest.append(seen)
        else:
            groups[key].append(seen)
    weekly = {key: sorted(seen, key=lambda s: s.start) for key, seen in groups.items()}
    rest += [s for seen in weekly.values() if len(seen) < 2 for s in seen]
    return {key: seen for key, seen in weekly.items() if len(seen) >= 2}, rest


def _part_of(piece: _Local, key: tuple[int, int]) -> bool:
    """Whether a cut gap is the tail (or the head) of a whole gap with this week minute
    and length."""
    minute, length = key
    if piece.length > length or (piece.gap.began_before and piece.gap.lasts_beyond):
        return False
    if piece.gap.began_before:
        return (minute + length - piece.week_minute - piece.length) % _MINUTES_PER_WEEK == 0
    return minute == piece.week_minute


def _same_or_next_day(minute: int, length: int) -> bool:
    """Short enough to read as "22:00–06:00": under a day, or a whole day from midnight."""
    return length < MINUTES_PER_DAY or (length == MINUTES_PER_DAY and minute == 0)


def _weekly_span(week_minute: int, length: int) -> str:
    """ "Fridays 17:00 to Mondays 09:00"."""
    end = (week_minute + length) % _MINUTES_PER_WEEK
    start_day, start_minute = divmod(week_minute, MINUTES_PER_DAY)
    end_day, end_minute = divmod(end, MINUTES_PER_DAY)
    return f"{_DAYS[start_day]}s {_clock(start_minute)} to {_DAYS[end_day]}s {_clock(end_minute)}"


def _dated(seen: _Local) -> str:
    """A gap that does not recur, by its dates."""
    if seen.gap.began_before and not seen.gap.lasts_beyond:
        return f"until {_when(seen.end)}"
    if seen.gap.lasts_beyond and not seen.gap.began_before:
        return f"from {_when(seen.start)} onward"
    start_minute = seen.start.hour * 60 + seen.start.minute
    if _same_or_next_day(start_minute, seen.length):
        return f"{_date(seen.start)} {_clock(start_minute)}–{_end_clock(start_minute, seen.length)}"
    return f"from {_when(seen.start)} to {_when(seen.end)}"


def _day_list(days: list[int]) -> str:
    """[0, 1, 2, 3, 4] -> "Mondays to Fridays"; [5, 6] -> "Saturdays and Sundays"."""
    if len(days) == len(_DAYS):
        return "every day"
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts: list[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{_DAYS[run[0]]}s to {_DAYS[run[-1]]}s")
        else:
            parts += [f"{_DAYS[day]}s" for day in run]
    return parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"


def _wall(instant: datetime, zone: tzinfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _end_clock(minute: int, length: int) -> str:
    """Midnight at the end of a gap reads as 24:00, the end of that day."""
    end = (minute + length) % MINUTES_PER_DAY
    return "24:00" if end == 0 and length else _clock(end)


def _date(moment: datetime) -> str:
    """ "Sat 5 Dec 2026", in English whatever the process's locale."""
    return f"{_DAYS[moment.weekday()][:3]} {moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _when(moment: datetime) -> str:
    return f"{_date(moment)} {_clock(moment.hour * 60 + moment.minute)}"
