"""On-call shifts as iCalendar feeds, so people see their shifts in their own calendar.

Two feeds: a schedule's (everyone's shifts, "alice on call (primary)") and a
person's (their shifts in every schedule, "On call: primary"). Each covers the
shifts from FEED_PAST before `now` to FEED_AHEAD after it, overrides applied
(a shift an override cuts into is several events). Times are UTC instants, as
shared.schedules.resolve computes them on the schedule's wall clock, so a
09:00 hand-off stays at 09:00 local across DST changes in every calendar app.

An event's UID is made of the schedule, the start and (in a person's feed)
the person, so a calendar app that reloads the feed updates events in place
instead of duplicating them. Calendar apps cannot send headers: a feed's URL
carries its own token, an HMAC of the feed's name under ICAL_SECRET, so one
leaked URL opens one feed and no other.

Pure: the shifts, the time and the secret are arguments.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote, urlencode

from icalendar import Calendar, Event

from shared.schedules.model import Schedule
from shared.schedules.overrides import Override
from shared.schedules.resolve import Shift, as_utc, next_handoffs

FEED_PAST = timedelta(days=7)
FEED_AHEAD = timedelta(days=60)
# At most this many stretches are computed per schedule: hourly shifts for the whole
# resolver horizon, with room for overrides and restriction windows.
MAX_SHIFTS = 10_000
PRODID = "-//alert-dispatch//on-call schedules//EN"
UID_DOMAIN = "alert-dispatch"


class FeedKind(StrEnum):
    """What a feed shows; also the prefix of the text its token signs."""

    SCHEDULE = "schedule"
    PERSON = "person"


FEED_DIRECTORIES = {FeedKind.SCHEDULE: "schedules", FeedKind.PERSON: "people"}


def feed_token(secret: str, kind: FeedKind, name: str) -> str:
    """The token of one feed: HMAC-SHA256 of "<kind>:<name>" under `secret`, in hex."""
    message = f"{kind.value}:{name}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def token_valid(secret: str | None, kind: FeedKind, name: str, token: str | None) -> bool:
    """Whether `token` opens the feed, compared in constant time; never without a secret."""
    if not secret or not token:
        return False
    return hmac.compare_digest(feed_token(secret, kind, name).encode(), token.encode())


def feed_path(kind: FeedKind, name: str) -> str:
    """The feed's path on the receiver (the name quoted as a path segment)."""
    return f"/ical/{FEED_DIRECTORIES[kind]}/{quote(name, safe='')}.ics"


def feed_url(base_url: str, secret: str, kind: FeedKind, name: str) -> str:
    """The address to give a calendar app: PUBLIC_BASE_URL, the path and the token."""
    query = urlencode({"token": feed_token(secret, kind, name)})
    return f"{base_url.rstrip('/')}{feed_path(kind, name)}?{query}"


def feed_window(now: datetime) -> tuple[datetime, datetime]:
    """The stretch of time a feed shows: [now - FEED_PAST, now + FEED_AHEAD)."""
    now = as_utc(now)
    return now - FEED_PAST, now + FEED_AHEAD


def feed_shifts(schedule: Schedule, now: datetime, overrides: Sequence[Override]) -> list[Shift]:
    """The shifts of `schedule` that overlap the feed's window, overrides applied.

    Each keeps its real start and end (so its UID does not move as `now` does);
    stretches with nobody on call are left out.
    """
    lo, hi = feed_window(now)
    shifts = next_handoffs(schedule, lo, MAX_SHIFTS, overrides)
    return [s for s in shifts if s.contacts and s.start < hi and s.end > lo]


def _calendar(name: str) -> Calendar:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    calendar.add("x-published-ttl", "PT1H")  # how often a calendar app should reload
    return calendar


def _event(uid: str, shift: Shift, summary: str, now: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", as_utc(now))
    event.add("dtstart", as_utc(shift.start))
    event.add("dtend", as_utc(shift.end))
    event.add("summary", summary)
    event.add("transp", "TRANSPARENT")  # being on call does not make a person busy
    return event


def _stamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def shift_uid(schedule: str, shift: Shift, person: str | None = None) -> str:
    """Stable per shift: the same schedule, start (and person) give the same UID."""
    who = f"-{person}" if person is not None else ""
    return f"{_stamp(shift.start)}-{schedule}{who}@{UID_DOMAIN}"


def schedule_calendar(schedule: Schedule, shifts: Sequence[Shift], now: datetime) -> bytes:
    """The feed of one schedule: an event per shift, naming who is on call."""
    calendar = _calendar(f"On call: {schedule.name}")
    for shift in shifts:
        if not shift.contacts:
            continue
        people = ", ".join(shift.contacts)
        summary = f"{people} on call ({schedule.name})"
        calendar.add_component(_event(shift_uid(schedule.name, shift), shift, summary, now))
    return calendar.to_ical()


def person_calendar(
    name: str, shifts_by_schedule: Mapping[str, Sequence[Shift]], now: datetime
) -> bytes:
    """The feed of one person: their shifts in every schedule, by start."""
    calendar = _calendar(f"{name} on call")
    mine = [
        (shift.start, schedule, shift)
        for schedule, shifts in shifts_by_schedule.items()
        for shift in shifts
        if name in shift.contacts
    ]
    for _, schedule, shift in sorted(mine, key=lambda item: (item[0], item[1])):
        uid = shift_uid(schedule, shift, name)
        calendar.add_component(_event(uid, shift, f"On call: {schedule}", now))
    return calendar.to_ical()
