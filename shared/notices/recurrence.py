"""Recurring windows: cron expressions (croniter) and RFC 5545 RRULEs (dateutil).

Both are evaluated on the wall clock of the window's time zone, never on UTC:
a weekly window at 02:00 stays at 02:00 local across a DST change. A wall
time becomes an instant as RFC 5545 says: a time skipped by the spring-forward
gap takes the offset before the gap (02:30 becomes 03:30 summer time), a time
repeated in autumn is its first occurrence. A recurrence that never fires
(`0 2 30 2 *`, Feb 30) is refused when the file is read, not discovered on the
night nobody was told.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import MAXYEAR, UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, CroniterError, croniter
from dateutil.rrule import DAILY, MONTHLY, WEEKLY, YEARLY, rrule, rrulestr

# A recurrence with no window this long after its first possible one never fires
# (Feb 29 recurs within 8 years, leap years skipped at a century included).
FIRES_WITHIN = timedelta(days=366 * 10)
# The Gregorian calendar repeats every 400 years, weekdays included (146,097 days
# are 20,871 weeks), so a rule moved by a multiple of it matches the same dates.
_CYCLE_YEARS = 400
_FREQUENCIES = {YEARLY, MONTHLY, WEEKLY, DAILY}
_CRON_FIELDS = 5


class RecurrenceError(ValueError):
    """A cron expression or RRULE that cannot be used; the message says why."""


def to_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall time in `zone` (RFC 5545 for gaps and repeats)."""
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def to_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall time in `zone` of an aware instant."""
    return instant.astimezone(zone).replace(tzinfo=None)


def check_cron(expression: str) -> str:
    """A five-field cron expression (minute hour day month weekday), or RecurrenceError."""
    text = " ".join(expression.split())
    if len(text.split(" ")) != _CRON_FIELDS:
        raise RecurrenceError(
            f'"{expression}" is not a cron expression of 5 fields (minute hour day month weekday)'
        )
    try:
        croniter(text, datetime(2000, 1, 1))
    except CroniterError as exc:
        raise RecurrenceError(f'invalid cron expression "{expression}": {exc}') from None
    return text


def parse_rrule(text: str, first: datetime) -> rrule:
    """One RRULE with `first` (a naive wall time) as its DTSTART, or RecurrenceError."""
    if "DTSTART" in text.upper():
        raise RecurrenceError("give the first window as `start`, not as DTSTART in the rule")
    try:
        rule = rrulestr(text.strip(), dtstart=first)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f'invalid RRULE "{text}": {exc}') from None
    if not isinstance(rule, rrule):
        raise RecurrenceError("give a single RRULE (no RDATE or EXDATE)")
    if rule._freq not in _FREQUENCIES:
        raise RecurrenceError(
            "windows recur at most daily: FREQ must be YEARLY, MONTHLY, WEEKLY or DAILY"
        )
    return rule


def _cron_walls(expression: str, lower: datetime) -> Iterator[datetime]:
    it = croniter(expression, lower - timedelta(seconds=1))
    while True:
        try:
            yield it.get_next(datetime)
        except CroniterBadDateError:
            return


def iter_wall_starts(
    cron: str | None, rule: str | None, first: datetime, lower: datetime
) -> Iterator[datetime]:
    """Naive wall times of the windows starting at or after `lower`, none before `first`.

    `cron` or `rule` (an RRULE) gives the recurrence; with neither, `first`
    is the only window. Unbounded for a recurrence: the caller stops it.
    """
    lower = max(lower, first)
    if cron is not None:
        yield from _cron_walls(cron, lower)
    elif rule is not None:
        yield from parse_rrule(rule, first).xafter(lower, inc=True)
    elif lower <= first:
        yield first


def wall_starts(
    cron: str | None, rule: str | None, first: datetime, lower: datetime, upper: datetime
) -> list[datetime]:
    """Naive wall times of the windows starting in [lower, upper), none before `first`."""
    found = []
    for wall in iter_wall_starts(cron, rule, first, lower):
        if wall >= upper:
            break
        found.append(wall)
    return found


def never_fires(cron: str | None, rule: str | None, first: datetime) -> str | None:
    """Why a recurrence has no window at all, or None when it has one."""
    if cron is None and rule is None:
        return None
    if cron is not None:
        try:
            croniter(cron, first - timedelta(seconds=1)).get_next(datetime)
        except CroniterBadDateError:
            return f'"{cron}" never fires (no date matches it)'
        return None
    if _first_rrule_wall(parse_rrule(rule or "", first)) is None:
        return f'the RRULE "{rule}" never fires after {first:%Y-%m-%d %H:%M}'
    return None


def _first_rrule_wall(rule: rrule) -> datetime | None:
    """The rule's first window within FIRES_WITHIN of its DTSTART, or None.

    dateutil looks for a match up to the year 9999 and checks UNTIL only on a
    match, so a rule that never matches would scan for seconds or minutes.
    The same rule moved by whole 400-year cycles towards 9999 matches the same
    dates and stops at 9999 after at most 410 years.
    """
    first: datetime = rule._dtstart
    cycles = (MAXYEAR - 10 - first.year) // _CYCLE_YEARS
    shift = cycles * _CYCLE_YEARS
    until = rule._until
    if until is not None and until.year + shift > MAXYEAR:
        until = None
    probe = rule.replace(
        dtstart=first.replace(year=first.year + shift),
        until=until.replace(year=until.year + shift) if until is not None else None,
        count=None,
    )
    found = probe.after(probe._dtstart, inc=True)
    if found is None or found - probe._dtstart > FIRES_WITHIN:
        return None
    return found.replace(year=found.year - shift)
