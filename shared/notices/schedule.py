"""When a notice's windows fall and when each reminder is due; whether a send still may go.

Pure functions on aware instants, `now` passed in. Every (notice, window,
reminder) has a stable id, `DueSend.id`, the key under which it is sent
once: the window is named by its start in UTC, so a wall time repeated in
autumn still names one instant, and the reminder by its one spelling.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.notices.model import Notice, Reminder, Window
from shared.notices.recurrence import FIRES_WITHIN, iter_wall_starts, to_instant, to_wall

# Beat's own lag: a send picked up this soon after its due time is on time.
ON_TIME = timedelta(minutes=1)
# Wall times and instants differ by at most a day's offset; wider bounds, then exact filters.
_MARGIN = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One window, as instants (UTC)."""

    start: datetime
    end: datetime

    @property
    def key(self) -> str:
        return self.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True, slots=True)
class DueSend:
    """One reminder of one window of one notice: the unit sent exactly once."""

    notice: str
    occurrence: Occurrence
    reminder: Reminder
    due_at: datetime

    @property
    def id(self) -> str:
        return f"{self.notice}/{self.occurrence.key}/{self.reminder.key}"


class Decision(StrEnum):
    NOT_YET = "not_yet"
    DUE = "due"
    LATE = "late"  # past its time but within the grace period: send now
    MISSED = "missed"  # past the grace period: not sent, reported


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("instants must carry a time zone")
    return instant


def _occurrences_from(window: Window, since: datetime) -> Iterator[Occurrence]:
    """Windows starting at or after `since`, in order (unbounded for a recurrence)."""
    zone = window.zone
    lower = to_wall(_aware(since), zone) - _MARGIN
    for wall in iter_wall_starts(window.cron, window.rrule, window.start, lower):
        start = to_instant(wall, zone)
        if start >= since:
            yield Occurrence(start, start + window.length)


def occurrences(window: Window, since: datetime, until: datetime) -> list[Occurrence]:
    """The windows starting in [since, until), one-off or recurring, in order."""
    _aware(until)
    found = []
    for occurrence in _occurrences_from(window, since):
        if occurrence.start >= until:
            break
        found.append(occurrence)
    return found


def first_occurrence(window: Window) -> Occurrence:
    """The first window of the series (the one-off window itself)."""
    start = to_instant(window.start, window.zone)
    found = next(_occurrences_from(window, start - _MARGIN), None)
    if found is None:  # refused at validation (never_fires); kept explicit
        raise ValueError("the recurrence never fires")
    return found


def next_occurrence(window: Window, now: datetime) -> Occurrence | None:
    """The window running at `now` or the next to start; None when all are over."""
    horizon = now + FIRES_WITHIN
    for occurrence in _occurrences_from(window, now - window.length):
        if occurrence.start > horizon:
            return None
        if occurrence.end > now:
            return occurrence
    return None


def sends_of(name: str, notice: Notice, occurrence: Occurrence) -> list[DueSend]:
    """Every reminder of one window, earliest first."""
    return [
        DueSend(name, occurrence, reminder, reminder.due_at(occurrence.start, occurrence.end))
        for reminder in notice.ordered_reminders
    ]


def sends_due(name: str, notice: Notice, since: datetime, until: datetime) -> list[DueSend]:
    """Every reminder of every window due in [since, until), by due time.

    A reminder may fall before its window (`-24h`) or after its start
    (`end`), so windows are looked for that far around the range.
    """
    offsets = [r.after_start(notice.window.length) for r in notice.ordered_reminders]
    windows = occurrences(notice.window, since - max(offsets), until - min(offsets))
    due = [
        send
        for occurrence in windows
        for send in sends_of(name, notice, occurrence)
        if since <= send.due_at < until
    ]
    return sorted(due, key=lambda send: send.due_at)


def decide(
    due_at: datetime, now: datetime, grace: timedelta, on_time: timedelta = ON_TIME
) -> Decision:
    """What to do with a send due at `due_at` when beat looks at it at `now`.

    On time within `on_time` (beat's own lag); later, it still goes within
    `grace` (beat was down a while: people still want to know), and past
    that it is missed: a "maintenance starts in 1 hour" sent after the
    maintenance ended would mislead.
    """
    lag = _aware(now) - _aware(due_at)
    if lag < timedelta():
        return Decision.NOT_YET
    if lag <= on_time:
        return Decision.DUE
    if lag <= grace:
        return Decision.LATE
    return Decision.MISSED
