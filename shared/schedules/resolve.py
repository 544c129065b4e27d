"""Who is on call at a moment, and when that changes: pure arithmetic on a Schedule.

Every answer takes the moment as an argument (an aware datetime in any
zone) and works on the schedule's wall clock: hand-offs of day and week
shifts, and restriction windows, are local times, so they stay put across
DST changes; hour shifts count elapsed hours from the first hand-off.

A wall time becomes an instant as RFC 5545 says (and shared.notices does):
a time skipped by the spring-forward gap takes the offset before the gap
(02:30 becomes 03:30 summer time), a repeated one is its first occurrence.

The answer only changes at a few kinds of moment (hand-offs, window edges,
the zone's clock changes, override edges); `possible_changes` lists them, so
a stretch is found by asking at those moments rather than by sampling time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.schedules.model import Layer, Rotation, Schedule
from shared.schedules.overrides import Override

HORIZON = timedelta(days=90)  # how far next_handoffs looks ahead (and back, for the start)
_CHUNK = timedelta(days=7)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Shift:
    """`contacts` are on call from `start` to `end` (UTC); empty in a gap."""

    start: datetime
    end: datetime
    contacts: tuple[str, ...]


def on_call(
    schedule: Schedule, at: datetime, overrides: Sequence[Override] = ()
) -> tuple[str, ...]:
    """The contact names on call at `at`: the layers' answer, then the overrides of this
    schedule in force at `at` (empty in a gap)."""
    return _overridden(schedule, as_utc(at), from_layers(schedule, at), overrides)


def from_layers(schedule: Schedule, at: datetime) -> tuple[str, ...]:
    """The file's answer alone: the last layer that covers `at` and has someone."""
    zone = schedule.zone
    local = as_utc(at).astimezone(zone)
    weekday, minute = local.weekday(), local.hour * 60 + local.minute
    who: tuple[str, ...] = ()
    for layer in schedule.layers:
        if not layer.covers(weekday, minute):
            continue
        member = rotation_member(layer.rotation, zone, at)
        if member is not None:
            who = (member,)
    return who


def rotation_member(rotation: Rotation, zone: ZoneInfo, at: datetime) -> str | None:
    """The member whose shift contains `at`; None before the first hand-off."""
    index = _shift_index(rotation, zone, as_utc(at))
    return None if index is None else rotation.members[index % len(rotation.members)]


def next_handoffs(
    schedule: Schedule, at: datetime, count: int, overrides: Sequence[Override] = ()
) -> list[Shift]:
    """The stretch under way at `at`, then up to `count` more, one per change of who is on
    call, within HORIZON of `at`.

    A stretch that began more than HORIZON before `at` shows as starting then;
    the last one listed ends at the next change, or at the horizon if there is
    none before it.
    """
    at = as_utc(at)
    current = on_call(schedule, at, overrides)
    begin = _stretch_start(schedule, at, current, overrides)
    shifts: list[Shift] = []
    limit = at + HORIZON
    for moment in _chunked(schedule, overrides, at + _TICK, limit):
        who = on_call(schedule, moment, overrides)
        if who == current:
            continue
        shifts.append(Shift(begin, moment, current))
        if len(shifts) > count:
            return shifts
        begin, current = moment, who
    return [*shifts, Shift(begin, limit, current)]


def possible_changes(
    schedule: Schedule, lo: datetime, hi: datetime, overrides: Sequence[Override] = ()
) -> list[datetime]:
    """Every moment in [lo, hi) at which the answer of on_call may change, in UTC, sorted.

    A superset: hand-offs, restriction edges (both occurrences of a repeated
    wall time), the zone's clock changes, and the overrides' edges.
    """
    lo, hi = as_utc(lo), as_utc(hi)
    zone = schedule.zone
    found = set(_clock_changes(zone, lo, hi))
    for layer in schedule.layers:
        found.update(_handoffs(layer.rotation, zone, lo, hi))
        found.update(_window_edges(layer, zone, lo, hi))
    for override in _applicable(schedule, overrides):
        found.update(t for t in (as_utc(override.start), as_utc(override.end)) if lo <= t < hi)
    return sorted(found)


def wall_instant(day: date, clock: time | int, zone: ZoneInfo, fold: int = 0) -> datetime:
    """The UTC instant of a local date and time (or minutes after its midnight)."""
    if isinstance(clock, int):
        day, clock = day + timedelta(days=clock // 1440), time(*divmod(clock % 1440, 60))
    return datetime.combine(day, clock, tzinfo=zone).replace(fold=fold).astimezone(UTC)


def as_utc(moment: datetime) -> datetime:
    """Aware datetimes of one tzinfo compare by wall clock: UTC makes them compare as instants."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone: give an aware datetime")
    return moment.astimezone(UTC)


def _applicable(schedule: Schedule, overrides: Sequence[Override]) -> list[Override]:
    return [override for override in overrides if override.schedule == schedule.name]


def _overridden(
    schedule: Schedule, at: datetime, who: tuple[str, ...], overrides: Sequence[Override]
) -> tuple[str, ...]:
    """Apply the overrides in force at `at`, earliest first, so a later, narrower one wins.

    With `replaces`, only a person the layers put on call is swapped; without
    it, `covering` takes the whole stretch, a gap included.
    """
    active = [o for o in _applicable(schedule, overrides) if as_utc(o.start) <= at < as_utc(o.end)]
    for override in sorted(active, key=lambda o: (as_utc(o.start), o.id or 0)):
        if override.replaces is None:
            who = (override.covering,)
        elif override.replaces in who:
            swapped = (override.covering if n == override.replaces else n for n in who)
            who = tuple(dict.fromkeys(swapped))
    return who


def _shift_index(rotation: Rotation, zone: ZoneInfo, at: datetime) -> int | None:
    """Which shift (0 is the first) contains the UTC instant `at`; None before the first."""
    if rotation.shift_hours:
        first = wall_instant(rotation.start, rotation.handoff, zone)
        if at < first:
            return None
        return (at - first) // timedelta(hours=rotation.shift_hours)
    day = at.astimezone(zone).date()
    if wall_instant(day, rotation.handoff, zone) > at:
        day -= timedelta(days=1)  # before today's hand-off: yesterday's shift
    elapsed = (day - rotation.start).days
    return None if elapsed < 0 else elapsed // rotation.shift_days


def _shift_start(rotation: Rotation, zone: ZoneInfo, index: int) -> datetime:
    if rotation.shift_hours:
        first = wall_instant(rotation.start, rotation.handoff, zone)
        return first + index * timedelta(hours=rotation.shift_hours)
    day = rotation.start + timedelta(days=index * rotation.shift_days)
    return wall_instant(day, rotation.handoff, zone)


def _handoffs(rotation: Rotation, zone: ZoneInfo, lo: datetime, hi: datetime) -> Iterator[datetime]:
    """The hand-offs in [lo, hi), the first shift's start included."""
    index = _shift_index(rotation, zone, lo) or 0
    moment = _shift_start(rotation, zone, index)
    while moment < hi:
        if moment >= lo:
            yield moment
        index += 1
        moment = _shift_start(rotation, zone, index)


def _window_edges(layer: Layer, zone: ZoneInfo, lo: datetime, hi: datetime) -> Iterator[datetime]:
    """Where each restriction window opens and closes in [lo, hi), both folds of each."""
    if not layer.restrict:
        return
    day = lo.astimezone(zone).date() - timedelta(days=1)
    last = hi.astimezone(zone).date()
    while day <= last:
        for window in layer.restrict:
            if window.empty or day.weekday() not in {d.number for d in window.days}:
                continue
            end = window.end + (1440 if window.wraps else 0)
            for minute in (window.start, end):
                for fold in (0, 1):
                    moment = wall_instant(day, minute, zone, fold)
                    if lo <= moment < hi:
                        yield moment
        day += timedelta(days=1)


def _clock_changes(zone: ZoneInfo, lo: datetime, hi: datetime) -> Iterator[datetime]:
    """The instants in [lo, hi) at which the zone's UTC offset changes (DST), to the second."""
    step = timedelta(hours=12)
    start = lo
    while start < hi:
        end = min(start + step, hi)
        if start.astimezone(zone).utcoffset() != end.astimezone(zone).utcoffset():
            before, after = start, end  # offset(before) != offset(after): bisect
            while after - before > timedelta(seconds=1):
                middle = before + (after - before) / 2
                same = middle.astimezone(zone).utcoffset() == before.astimezone(zone).utcoffset()
                before, after = (middle, after) if same else (before, middle)
            yield after.replace(microsecond=0)  # clocks change on a whole second
        start = end


def _chunked(
    schedule: Schedule, overrides: Sequence[Override], lo: datetime, hi: datetime
) -> Iterator[datetime]:
    """possible_changes over [lo, hi), a week at a time, so a short answer stays cheap."""
    while lo < hi:
        end = min(lo + _CHUNK, hi)
        yield from possible_changes(schedule, lo, end, overrides)
        lo = end


def _stretch_start(
    schedule: Schedule, at: datetime, current: tuple[str, ...], overrides: Sequence[Override]
) -> datetime:
    """The last change at or before `at` (HORIZON back at most)."""
    floor = at - HORIZON
    hi = at + _TICK
    while hi > floor:
        lo = max(hi - _CHUNK, floor)
        for moment in reversed(possible_changes(schedule, lo, hi, overrides)):
            if on_call(schedule, moment - _TICK, overrides) != current:
                return moment
        hi = lo
    return floor
