"""Times nobody is on call, found from the file and worded the way a rota is read."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.schedules.gaps import Gap, describe, gaps
from shared.schedules.model import Schedule

BERLIN = ZoneInfo("Europe/Berlin")


def schedule(zone: str, *layers: dict) -> Schedule:
    return Schedule.model_validate({"name": "s", "time_zone": zone, "layers": layers})


def layer(start: str, *windows: dict, members: tuple[str, ...] = ("ann",)) -> dict:
    rotation = {"members": members, "shift": "1w", "handoff": "00:00", "start": start}
    found: dict = {"name": f"from {start}", "rotation": rotation}
    if windows:
        found["restrict"] = windows
    return found


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


WEEKDAYS = ["mon", "tue", "wed", "thu", "fri"]
NOT_SATURDAY_MORNING = (
    {"days": [*WEEKDAYS, "sun"], "from": "00:00", "to": "24:00"},
    {"days": ["sat"], "from": "08:00", "to": "24:00"},
)


@pytest.mark.parametrize(
    ("zone", "first_saturday"),
    [
        ("Europe/Berlin", "2026-03-21"),  # summer time from Sun Mar 29
        ("Europe/Berlin", "2026-10-17"),  # winter time from Sun Oct 25
        ("America/New_York", "2026-03-07"),  # summer time from Sun Mar 8
        ("America/New_York", "2026-10-31"),  # winter time from Sun Nov 1
    ],
)
def test_a_weekly_gap_is_named_by_its_weekday_across_dst(zone: str, first_saturday: str) -> None:
    s = schedule(zone, layer("2026-01-05", *NOT_SATURDAY_MORNING))
    start = datetime.fromisoformat(first_saturday).replace(tzinfo=ZoneInfo(zone))
    found = gaps(s, start)
    local = [(g.start.astimezone(s.zone), g.end.astimezone(s.zone)) for g in found]
    # the same local hours both Saturdays, though one of them is in the other offset
    assert [(a.strftime("%a %H:%M"), b.strftime("%a %H:%M")) for a, b in local] == [
        ("Sat 00:00", "Sat 08:00"),
        ("Sat 00:00", "Sat 08:00"),
    ]
    assert describe(found, zone) == [f"no one on call Saturdays 00:00–08:00 ({zone})"]


def test_gaps_are_instants_on_the_local_clock() -> None:
    s = schedule("Europe/Berlin", layer("2026-01-05", *NOT_SATURDAY_MORNING))
    assert gaps(s, datetime(2026, 3, 21, tzinfo=BERLIN)) == [
        Gap(utc("2026-03-20 23:00"), utc("2026-03-21 07:00")),  # winter: UTC+1
        Gap(utc("2026-03-27 23:00"), utc("2026-03-28 07:00")),  # still winter on Saturday
    ]
    assert gaps(s, datetime(2026, 4, 4, tzinfo=BERLIN), days=1) == [
        Gap(utc("2026-04-03 22:00"), utc("2026-04-04 06:00")),  # summer: UTC+2
    ]


def test_a_range_that_cuts_a_weekly_gap_still_names_it_by_weekday() -> None:
    s = schedule("Europe/Berlin", layer("2026-01-05", *NOT_SATURDAY_MORNING))
    found = gaps(s, datetime(2026, 3, 21, 4, 0, tzinfo=BERLIN))
    assert [(g.began_before, g.lasts_beyond) for g in found] == [
        (True, False),  # Sat Mar 21 04:00-08:00
        (False, False),  # Sat Mar 28
        (False, True),  # Sat Apr 4 00:00-04:00, where the range ends
    ]
    assert describe(found, BERLIN) == ["no one on call Saturdays 00:00–08:00 (Europe/Berlin)"]


def test_business_hours_alone_leave_nights_and_the_weekend() -> None:
    hours = {"days": WEEKDAYS, "from": "09:00", "to": "17:00"}
    s = schedule("Europe/Berlin", layer("2026-01-05", hours))
    assert describe(gaps(s, datetime(2026, 3, 2, tzinfo=BERLIN)), BERLIN) == [
        "no one on call from Fridays 17:00 to Mondays 09:00 (Europe/Berlin)",
        "no one on call Mondays to Thursdays 17:00–09:00 (Europe/Berlin)",
    ]


def test_nightly_gaps_on_some_days() -> None:
    days = {"days": WEEKDAYS, "from": "06:00", "to": "22:00"}
    weekend = {"days": ["sat", "sun"], "from": "00:00", "to": "24:00"}
    s = schedule("America/New_York", layer("2026-01-05", days, weekend))
    found = gaps(s, datetime(2026, 3, 2, tzinfo=s.zone))  # summer time from Sun Mar 8
    assert describe(found, s.zone) == [
        "no one on call Mondays 00:00–06:00 (America/New_York)",
        "no one on call Mondays to Thursdays 22:00–06:00 (America/New_York)",
        "no one on call Fridays 22:00–24:00 (America/New_York)",
    ]


def test_a_gap_that_does_not_recur_is_named_by_its_dates() -> None:
    weekdays = {"days": WEEKDAYS, "from": "00:00", "to": "24:00"}
    # weekdays from Nov 30; everyone-always from Mon Dec 7: one weekend uncovered
    s = schedule("Europe/Berlin", layer("2026-11-30", weekdays), layer("2026-12-07"))
    assert describe(gaps(s, datetime(2026, 11, 30, tzinfo=BERLIN)), BERLIN) == [
        "no one on call from Sat 5 Dec 2026 00:00 to Mon 7 Dec 2026 00:00 (Europe/Berlin)"
    ]


def test_a_rotation_that_has_not_started_leaves_a_gap_until_it_does() -> None:
    late = layer("2026-12-02")
    late["rotation"]["handoff"] = "09:00"
    s = schedule("Europe/Berlin", late)
    found = gaps(s, datetime(2026, 11, 30, tzinfo=BERLIN))
    assert found == [Gap(utc("2026-11-29 23:00"), utc("2026-12-02 08:00"), began_before=True)]
    assert describe(found, BERLIN) == ["no one on call until Wed 2 Dec 2026 09:00 (Europe/Berlin)"]


def test_overlapping_layers_leave_no_gap() -> None:
    hours = {"days": WEEKDAYS, "from": "09:00", "to": "17:00"}
    s = schedule("Europe/Berlin", layer("2026-01-05"), layer("2026-01-05", hours))
    assert gaps(s, datetime(2026, 3, 21, tzinfo=BERLIN)) == []
