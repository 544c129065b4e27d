"""Hand-off notices: which texts are due now to people about to come on call, and their words.

A schedule with `handoff_notice: {before: 30m}` tells each person coming on call,
that long before their shift starts, when it starts and ends. Only someone who
was not on call just before gets one: a person whose shift simply goes on (a
second week in a row, a layer handing them to themselves) is told nothing.

Pure: the schedule, its overrides and `now` are passed in. The worker
(worker.tasks.handoff_notices) sends what is due and records each notice under
a unique (schedule, shift start, contact) key before sending, so it leaves once
per shift however often, and by however many beats, this is asked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.schedules.model import Schedule
from shared.schedules.overrides import Override
from shared.schedules.resolve import HORIZON, Shift, as_utc, next_handoffs

_FIRST_LOOK = 4  # hand-offs asked for at first; more only when they all fall in the lead time
_MOST = 256
MAX_NAME_CHARS = 40
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 ._-]")


@dataclass(frozen=True, slots=True)
class DueNotice:
    """One text to send: `contact` comes on call in `schedule` at `shift_start` (UTC)."""

    schedule: str
    shift_start: datetime
    contact: str
    text: str


def due_notices(
    schedule: Schedule, overrides: Sequence[Override], now: datetime
) -> list[DueNotice]:
    """The notices of shifts starting after `now` and at most the lead time later, one per
    person coming on call in each; empty when the schedule asks for none."""
    if schedule.handoff_notice is None:
        return []
    now = as_utc(now)
    latest = now + timedelta(seconds=schedule.handoff_notice.before)
    shifts = _shifts_until(schedule, overrides, now, latest)
    due: list[DueNotice] = []
    for previous, shift in zip(shifts, shifts[1:], strict=False):
        if not now < shift.start <= latest:
            continue
        open_ended = shift.end >= now + HORIZON  # no change found: the end is not known
        text = notice_text(schedule, shift, open_ended=open_ended)
        due.extend(
            DueNotice(schedule.name, shift.start, contact, text)
            for contact in shift.contacts
            if contact not in previous.contacts
        )
    return due


def _shifts_until(
    schedule: Schedule, overrides: Sequence[Override], now: datetime, latest: datetime
) -> list[Shift]:
    """The stretch under way at `now` and every one starting up to `latest`, at least.

    next_handoffs stops after `count` changes; a short rotation (or a burst of
    overrides) may change hands more often than that within the lead time, so
    the count grows until the last stretch listed ends after `latest`.
    """
    count = _FIRST_LOOK
    while True:
        shifts = next_handoffs(schedule, now, count, overrides)
        if shifts[-1].end > latest or len(shifts) <= count or count >= _MOST:
            return shifts
        count *= 4


def notice_text(schedule: Schedule, shift: Shift, *, open_ended: bool = False) -> str:
    """The words, in the schedule's zone: "You are on call for <schedule> from <local
    start, zone> to <local end>." One GSM-7 segment (the name shortened, spelled plainly)."""
    zone = schedule.zone
    start, end = shift.start.astimezone(zone), shift.end.astimezone(zone)
    name = _plain(schedule.name)
    begins = f"{_clock(start)} {start.tzname()}"
    if open_ended:
        return f"You are on call for {name} from {begins}."
    ends = _clock(end) if end.tzname() == start.tzname() else f"{_clock(end)} {end.tzname()}"
    return f"You are on call for {name} from {begins} to {ends}."


def _clock(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %H:%M}"


def _plain(name: str) -> str:
    """The name in characters every phone shows in a 160-character text: accents
    dropped, anything else outside letters, digits and ` ._-` as `-`."""
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _NOT_PLAIN.sub("-", bare)[:MAX_NAME_CHARS]
