"""Schedules and people's shifts as iCalendar feeds, built without HTTP.

A weekly rotation (alice, then carol) hands off Mondays at 09:00 Berlin time
from Monday 2027-03-01; summer time starts on Sunday 2027-03-28, so the
hand-off of Monday 2027-03-22 is 08:00 UTC and the next one 07:00 UTC.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from shared.core.logging_setup import mask_record
from shared.schedules.ical import (
    FeedKind,
    feed_shifts,
    feed_token,
    feed_url,
    person_calendar,
    schedule_calendar,
    token_valid,
)
from shared.schedules.model import Schedule
from shared.schedules.overrides import Override

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 24, 12, 0, tzinfo=UTC)
PRIMARY = Schedule.model_validate(
    {
        "name": "primary",
        "time_zone": "Europe/Berlin",
        "layers": [
            {
                "name": "weekly",
                "rotation": {
                    "members": ["alice", "carol"],
                    "shift": "1w",
                    "handoff": "09:00",
                    "start": "2027-03-01",
                },
            }
        ],
    }
)
SUPPORT = Schedule.model_validate(
    {
        "name": "support",
        "time_zone": "UTC",
        "layers": [
            {
                "name": "daily",
                "rotation": {
                    "members": ["alice", "bob"],
                    "shift": "1d",
                    "handoff": "00:00",
                    "start": "2027-03-01",
                },
            }
        ],
    }
)
# Bob covers from Wednesday 18:00 to Thursday 09:00 (Berlin, UTC+1), inside carol's week.
BOB_COVERS = Override(
    schedule="primary",
    covering="bob",
    start=datetime(2027, 3, 24, 17, 0, tzinfo=UTC),
    end=datetime(2027, 3, 25, 8, 0, tzinfo=UTC),
)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def events(body: bytes) -> list[tuple[str, datetime, datetime, str]]:
    """(summary, start, end, uid) of each event, by start."""
    calendar = Calendar.from_ical(body)
    found = [
        (
            str(event["SUMMARY"]),
            event.decoded("DTSTART"),
            event.decoded("DTEND"),
            str(event["UID"]),
        )
        for event in calendar.walk("VEVENT")
    ]
    return sorted(found, key=lambda item: item[1])


def test_a_schedule_feed_has_an_event_per_shift_at_the_right_utc_instants_across_dst() -> None:
    body = schedule_calendar(PRIMARY, feed_shifts(PRIMARY, NOW, ()), NOW)

    calendar = Calendar.from_ical(body)
    assert str(calendar["PRODID"]).startswith("-//alert-dispatch//")
    assert str(calendar["VERSION"]) == "2.0"
    found = events(body)
    assert [(summary, start, end) for summary, start, end, _ in found[:3]] == [
        ("alice on call (primary)", utc("2027-03-15 08:00"), utc("2027-03-22 08:00")),
        ("carol on call (primary)", utc("2027-03-22 08:00"), utc("2027-03-29 07:00")),
        ("alice on call (primary)", utc("2027-03-29 07:00"), utc("2027-04-05 07:00")),
    ]
    # A week back to two months ahead: the shift under way 7 days ago is the first, the
    # last starts before 2027-05-23 12:00 UTC.
    assert len(found) == 10
    assert found[-1][1] == utc("2027-05-17 07:00")
    # Every hand-off is at 09:00 Berlin time, written as UTC.
    for _, start, end, _ in found:
        assert start.tzinfo is not None and start.utcoffset() == timedelta(0)
        assert (start.astimezone(BERLIN).hour, end.astimezone(BERLIN).hour) == (9, 9)
    assert b"DTSTART:20270329T070000Z" in body
    assert body.count(b"DTSTAMP:20270324T120000Z") == 10


def test_uids_are_unique_and_stay_the_same_when_the_feed_is_read_again_later() -> None:
    first = {
        start: uid
        for _, start, _, uid in events(
            schedule_calendar(PRIMARY, feed_shifts(PRIMARY, NOW, ()), NOW)
        )
    }
    later = NOW + timedelta(hours=5)
    again = {
        start: uid
        for _, start, _, uid in events(
            schedule_calendar(PRIMARY, feed_shifts(PRIMARY, later, ()), later)
        )
    }

    assert len(set(first.values())) == len(first)
    assert first.keys() == again.keys()
    assert all(first[start] == again[start] for start in first)


def test_an_override_splits_a_shift_into_separate_events() -> None:
    found = events(schedule_calendar(PRIMARY, feed_shifts(PRIMARY, NOW, [BOB_COVERS]), NOW))

    week = [
        (s, start, end)
        for s, start, end, _ in found
        if utc("2027-03-22 00:00") <= start < utc("2027-03-29 07:00")
    ]
    assert week == [
        ("carol on call (primary)", utc("2027-03-22 08:00"), utc("2027-03-24 17:00")),
        ("bob on call (primary)", utc("2027-03-24 17:00"), utc("2027-03-25 08:00")),
        ("carol on call (primary)", utc("2027-03-25 08:00"), utc("2027-03-29 07:00")),
    ]
    assert len({uid for *_, uid in found}) == len(found)


def test_a_person_feed_holds_their_shifts_in_every_schedule_and_nobody_else_s() -> None:
    shifts = {
        "primary": feed_shifts(PRIMARY, NOW, [BOB_COVERS]),
        "support": feed_shifts(SUPPORT, NOW, ()),
    }
    alice = events(person_calendar("alice", shifts, NOW))
    bob = events(person_calendar("bob", shifts, NOW))

    assert {summary for summary, *_ in alice} == {"On call: primary", "On call: support"}
    primary = [(start, end) for summary, start, end, _ in alice if summary == "On call: primary"]
    assert primary[:2] == [
        (utc("2027-03-15 08:00"), utc("2027-03-22 08:00")),
        (utc("2027-03-29 07:00"), utc("2027-04-05 07:00")),
    ]
    support = [start for summary, start, _, _ in alice if summary == "On call: support"]
    assert all(
        start.hour == 0 and (start.date() - utc("2027-03-01 00:00").date()).days % 2 == 0
        for start in support
    )
    assert ("On call: primary", utc("2027-03-24 17:00"), utc("2027-03-25 08:00")) in [
        (summary, start, end) for summary, start, end, _ in bob
    ]
    assert events(person_calendar("dave", shifts, NOW)) == []
    # A person's event is not the schedule feed's event: both may be subscribed to at once.
    schedule_uids = {uid for *_, uid in events(schedule_calendar(PRIMARY, shifts["primary"], NOW))}
    assert not schedule_uids & {uid for *_, uid in alice}


def test_each_feed_has_its_own_token_and_none_opens_without_a_secret() -> None:
    secret = "s" * 32
    token = feed_token(secret, FeedKind.SCHEDULE, "primary")

    assert len(token) == 64 and token == feed_token(secret, FeedKind.SCHEDULE, "primary")
    assert token_valid(secret, FeedKind.SCHEDULE, "primary", token)
    assert not token_valid(secret, FeedKind.PERSON, "primary", token)
    assert not token_valid(secret, FeedKind.SCHEDULE, "support", token)
    assert not token_valid("t" * 32, FeedKind.SCHEDULE, "primary", token)
    assert not token_valid(None, FeedKind.SCHEDULE, "primary", token)
    assert not token_valid(secret, FeedKind.SCHEDULE, "primary", None)
    url = feed_url("https://pager.example.com/", secret, FeedKind.PERSON, "ann marie")
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("pager.example.com", "/ical/people/ann%20marie.ics")
    assert parse_qs(parts.query) == {"token": [feed_token(secret, FeedKind.PERSON, "ann marie")]}


def test_a_feed_token_in_a_request_line_never_reaches_a_log_line() -> None:
    token = feed_token("s" * 32, FeedKind.PERSON, "alice")
    record = logging.LogRecord(
        "gunicorn.access",
        logging.INFO,
        __file__,
        1,
        '%(h)s "%(r)s" %(s)s',
        ({"h": "10.0.0.1", "r": f"GET /ical/people/alice.ics?token={token} HTTP/1.1", "s": "200"},),
        None,
    )

    line = mask_record(record).getMessage()
    assert token not in line
    assert '"GET /ical/people/alice.ics?token=*** HTTP/1.1" 200' in line


def test_a_public_or_short_ical_secret_is_refused_outside_development() -> None:
    from shared.core.settings import Settings, SettingsError, load_settings
    from shared.startup_checks import unsafe_defaults

    real = {"PLIVO_BASE_URL": "https://api.plivo.com"}
    public = Settings(_env_file=None, ICAL_SECRET="simulator-auth-token", **real)
    assert "ICAL_SECRET is the public simulator default" in unsafe_defaults(public)
    own = Settings(_env_file=None, ICAL_SECRET="x7-our-own-long-secret", **real)
    assert not [line for line in unsafe_defaults(own) if "ICAL_SECRET" in line]
    with pytest.raises(SettingsError, match="ICAL_SECRET: .*16 characters"):
        load_settings(ICAL_SECRET="change-me")
    assert load_settings(ICAL_SECRET="").ical_secret is None
