"""When windows fall and reminders are due: DST-correct, stable ids, the grace rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.notices.model import Notice, Reminder, Window
from shared.notices.schedule import (
    Decision,
    decide,
    first_occurrence,
    next_occurrence,
    occurrences,
    sends_due,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def window(**fields: Any) -> Window:
    return Window.model_validate({"duration": "1h", "time_zone": "Europe/Paris", **fields})


def notice(reminders: list[str], **window_fields: Any) -> Notice:
    return Notice.model_validate(
        {
            "name": "db",
            "title": "DB upgrade",
            "templates": {"sms": "{title} {start}"},
            "audience": {"lists": ["customers"]},
            "window": {"duration": "2h", "time_zone": "Europe/Paris", **window_fields},
            "reminders": reminders,
        }
    )


# --------------------------------------------------------------------------- windows and DST


def test_a_one_off_window_is_its_start_in_its_zone() -> None:
    (only,) = occurrences(window(start="2025-12-07 02:00"), utc(2025, 1, 1), utc(2026, 1, 1))
    assert (only.start, only.end) == (utc(2025, 12, 7, 1), utc(2025, 12, 7, 2))
    assert only.key == "20251207T010000Z"


def test_a_time_skipped_by_spring_forward_moves_forward_by_the_gap() -> None:
    # Europe/Paris, 29 March 2026: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    gap = first_occurrence(window(start="2026-03-29 02:30"))
    assert gap.start == utc(2026, 3, 29, 1, 30)  # 03:30 CEST, as RFC 5545 says
    assert gap.end - gap.start == timedelta(hours=1)


def test_a_time_repeated_in_autumn_is_its_first_occurrence() -> None:
    # 25 October 2026: 02:30 happens at 00:30Z (CEST) and again at 01:30Z (CET).
    assert first_occurrence(window(start="2026-10-25 02:30")).start == utc(2026, 10, 25, 0, 30)


def test_a_weekly_cron_window_keeps_its_wall_time_across_dst() -> None:
    weekly = window(start="2026-03-01 00:00", cron="0 2 * * SUN")
    starts = [o.start for o in occurrences(weekly, utc(2026, 3, 20), utc(2026, 4, 10))]
    assert starts == [
        utc(2026, 3, 22, 1),  # 02:00 CET
        utc(2026, 3, 29, 1),  # 02:00 does not exist that night: 03:00 CEST
        utc(2026, 4, 5, 0),  # 02:00 CEST
    ]


def test_a_weekly_rrule_window_keeps_its_wall_time_across_the_autumn_change() -> None:
    weekly = Window.model_validate(
        {
            "start": "2026-10-18 12:00",
            "rrule": "FREQ=WEEKLY;BYDAY=SU",
            "duration": "30m",
            "time_zone": "America/New_York",
        }
    )
    starts = [o.start for o in occurrences(weekly, utc(2026, 10, 1), utc(2026, 11, 8))]
    assert starts == [utc(2026, 10, 18, 16), utc(2026, 10, 25, 16), utc(2026, 11, 1, 17)]
    assert [o.key for o in occurrences(weekly, utc(2026, 11, 1), utc(2026, 11, 2))] == [
        "20261101T170000Z"
    ]


def test_no_window_starts_before_the_first() -> None:
    weekly = window(start="2026-03-15 00:00", cron="0 2 * * SUN")
    assert occurrences(weekly, utc(2026, 3, 1), utc(2026, 3, 16))[0].start == utc(2026, 3, 15, 1)
    assert len(occurrences(weekly, utc(2026, 3, 1), utc(2026, 3, 16))) == 1


def test_next_occurrence_is_the_running_one_then_the_next() -> None:
    weekly = window(start="2026-01-04 02:00", rrule="FREQ=WEEKLY;BYDAY=SU")
    running = next_occurrence(weekly, utc(2026, 1, 11, 1, 30))
    assert running is not None and running.start == utc(2026, 1, 11, 1)
    after = next_occurrence(weekly, utc(2026, 1, 11, 2))
    assert after is not None and after.start == utc(2026, 1, 18, 1)
    one_off = window(start="2026-01-04 02:00")
    assert next_occurrence(one_off, utc(2026, 1, 4, 2)) is None


# --------------------------------------------------------------------------- refused windows


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cron": "0 2 30 2 *"}, "never fires"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "never fires"),
        ({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31"}, "never fires"),
        ({"rrule": "FREQ=WEEKLY;BYDAY=SU;UNTIL=20250101T000000"}, "never fires"),
        ({"rrule": "FREQ=MINUTELY"}, "at most daily"),
        ({"rrule": "DTSTART:20260101T000000\nRRULE:FREQ=DAILY"}, "not as DTSTART"),
        ({"cron": "0 2 * *"}, "5 fields"),
        ({"cron": "0 25 * * *"}, "invalid cron"),
        ({"cron": "0 * * * *", "duration": "61m"}, "windows overlap"),
        ({"cron": "0 2 * * *", "rrule": "FREQ=DAILY"}, "not both"),
        ({"time_zone": "Europe/Pariss"}, "unknown time zone"),
        ({"start": "2026-01-01T02:00:00+01:00"}, "without an offset"),
        ({"duration": 0}, "greater than 0"),
    ],
)
def test_windows_that_cannot_be_used_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        window(**{"start": "2026-01-01 02:00", **fields})


def test_a_leap_day_recurrence_fires() -> None:
    leap = window(start="2026-01-01 02:00", cron="0 2 29 2 *")
    assert first_occurrence(leap).start == utc(2028, 2, 29, 1)


# --------------------------------------------------------------------------- reminders


@pytest.mark.parametrize(
    ("written", "key", "offset_s"),
    [
        ("-24h", "-24h", -86400),
        ("-60m", "-1h", -3600),
        ("start-1h30m", "-1h30m", -5400),
        ("start", "start", 0),
        ("end", "end", 0),
        ("end+30m", "end+30m", 1800),
    ],
)
def test_reminders_have_one_spelling(written: str, key: str, offset_s: int) -> None:
    reminder = Reminder.model_validate(written)
    assert (reminder.key, reminder.offset_s) == (key, offset_s)


@pytest.mark.parametrize("written", ["soon", "-", "-24", "-2x", "end-", "middle"])
def test_unknown_reminders_are_refused(written: str) -> None:
    with pytest.raises(ValidationError, match="not a reminder"):
        Reminder.model_validate(written)


def test_each_reminder_is_due_once_with_a_stable_id() -> None:
    db = notice(["end", "-24h", "-1h", "start", "-60m"], start="2026-03-29 10:00")
    sends = sends_due("db", db, utc(2026, 3, 1), utc(2026, 4, 1))
    assert [(s.id, s.due_at) for s in sends] == [
        # -24h is elapsed time: the clocks changed overnight, so it is 09:00 CET locally.
        ("db/20260329T080000Z/-24h", utc(2026, 3, 28, 8)),
        ("db/20260329T080000Z/-1h", utc(2026, 3, 29, 7)),
        ("db/20260329T080000Z/start", utc(2026, 3, 29, 8)),
        ("db/20260329T080000Z/end", utc(2026, 3, 29, 10)),
    ]
    assert sends_due("db", db, utc(2026, 3, 29, 7), utc(2026, 3, 29, 8)) == [sends[1]]


def test_reminders_of_a_recurring_window_are_found_around_the_range() -> None:
    weekly = notice(["-24h", "end"], start="2026-01-04 02:00", cron="0 2 * * SUN")
    # Saturday 10 Jan: the -24h of Sunday 11 Jan, whose window starts after the range.
    sends = sends_due("db", weekly, utc(2026, 1, 10), utc(2026, 1, 11))
    assert [s.id for s in sends] == ["db/20260111T010000Z/-24h"]
    # Sunday 04:00 CET: the end of the window that started before the range.
    sends = sends_due("db", weekly, utc(2026, 1, 11, 2, 30), utc(2026, 1, 11, 4))
    assert [s.id for s in sends] == ["db/20260111T010000Z/end"]


# --------------------------------------------------------------------------- the grace rule

DUE = utc(2026, 3, 29, 1)
GRACE = timedelta(minutes=30)


@pytest.mark.parametrize(
    ("now", "decision"),
    [
        (DUE - timedelta(seconds=1), Decision.NOT_YET),
        (DUE, Decision.DUE),
        (DUE + timedelta(minutes=1), Decision.DUE),
        (DUE + timedelta(minutes=1, seconds=1), Decision.LATE),
        (DUE + GRACE, Decision.LATE),
        (DUE + GRACE + timedelta(seconds=1), Decision.MISSED),
        (DUE + timedelta(days=3), Decision.MISSED),
    ],
)
def test_a_send_is_due_late_within_grace_then_missed(now: datetime, decision: Decision) -> None:
    assert decide(DUE, now, GRACE) is decision


def test_without_grace_only_an_on_time_send_goes() -> None:
    assert decide(DUE, DUE + timedelta(seconds=30), timedelta()) is Decision.DUE
    assert decide(DUE, DUE + timedelta(minutes=2), timedelta()) is Decision.MISSED


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        decide(datetime(2026, 1, 1), DUE, GRACE)
