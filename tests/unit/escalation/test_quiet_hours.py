"""Quiet hours, the pure rule: a warning or info page waits for the end of the person's
night on their own clock; a critical one, or a person with quiet_hours_off, never waits."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from shared.escalation.quiet_hours import hold_for, quiet_until
from shared.routing.config_models import Contact, QuietHours
from shared.routing.oncall_config import check_config_text

BERLIN_NIGHTS = QuietHours.model_validate(
    {"from": "22:00", "to": "07:00", "time_zone": "Europe/Berlin"}
)


def contact(quiet: QuietHours | None = BERLIN_NIGHTS, *, off: bool = False) -> Contact:
    return Contact(name="ann", phone="+14155550401", quiet_hours=quiet, quiet_hours_off=off)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # Winter: Berlin is UTC+1.
        (utc(2026, 12, 2, 20, 59), None),  # 21:59 in Berlin: still evening
        (utc(2026, 12, 2, 21, 0), utc(2026, 12, 3, 6, 0)),  # 22:00: quiet until 07:00 tomorrow
        (utc(2026, 12, 2, 22, 30), utc(2026, 12, 3, 6, 0)),  # 23:30
        (utc(2026, 12, 3, 2, 0), utc(2026, 12, 3, 6, 0)),  # 03:00, past midnight: same morning
        (utc(2026, 12, 3, 5, 59), utc(2026, 12, 3, 6, 0)),  # 06:59
        (utc(2026, 12, 3, 6, 0), None),  # 07:00: awake
        (utc(2026, 12, 3, 11, 0), None),  # noon
        # Summer: Berlin is UTC+2, and 07:00 there is 05:00 UTC.
        (utc(2026, 7, 1, 21, 0), utc(2026, 7, 2, 5, 0)),  # 23:00 CEST
    ],
)
def test_a_night_that_wraps_past_midnight_holds_until_the_morning(now, until) -> None:
    assert quiet_until(BERLIN_NIGHTS, now) == until


def test_hours_within_one_day_hold_until_their_end_the_same_day() -> None:
    siesta = QuietHours.model_validate({"from": "13:00", "to": "15:00", "time_zone": "UTC"})
    assert quiet_until(siesta, utc(2026, 12, 2, 12, 59)) is None
    assert quiet_until(siesta, utc(2026, 12, 2, 14, 0)) == utc(2026, 12, 2, 15, 0)
    assert quiet_until(siesta, utc(2026, 12, 2, 15, 0)) is None


def test_the_night_clocks_go_forward_ends_at_seven_on_the_new_clock() -> None:
    # 2026-03-29 02:00 CET becomes 03:00 CEST: 07:00 that morning is 05:00 UTC, not 06:00.
    assert quiet_until(BERLIN_NIGHTS, utc(2026, 3, 28, 22, 0)) == utc(2026, 3, 29, 5, 0)
    assert quiet_until(BERLIN_NIGHTS, utc(2026, 3, 29, 1, 30)) == utc(2026, 3, 29, 5, 0)
    assert quiet_until(BERLIN_NIGHTS, utc(2026, 3, 29, 5, 0)) is None


def test_the_night_clocks_go_back_ends_at_seven_on_the_new_clock() -> None:
    # 2026-10-25 03:00 CEST becomes 02:00 CET: 07:00 that morning is 06:00 UTC.
    assert quiet_until(BERLIN_NIGHTS, utc(2026, 10, 24, 21, 0)) == utc(2026, 10, 25, 6, 0)
    assert quiet_until(BERLIN_NIGHTS, utc(2026, 10, 25, 5, 30)) == utc(2026, 10, 25, 6, 0)


NIGHT = utc(2026, 12, 2, 23, 0)  # midnight in Berlin


@pytest.mark.parametrize("severity", ["warning", "info"])
def test_a_warning_or_info_page_in_quiet_hours_waits_for_their_end(severity) -> None:
    hold = hold_for(contact(), severity, NIGHT)
    assert hold is not None
    assert hold.until == utc(2026, 12, 3, 6, 0)
    assert hold.text == "held for quiet hours until 07:00 Europe/Berlin"


@pytest.mark.parametrize("severity", ["critical", "error"])
def test_a_critical_page_always_goes_at_once(severity) -> None:
    assert hold_for(contact(), severity, NIGHT) is None


def test_quiet_hours_off_pages_at_any_hour() -> None:
    assert hold_for(contact(off=True), "info", NIGHT) is None
    assert hold_for(contact(None), "info", NIGHT) is None


def test_a_page_outside_quiet_hours_goes_at_once() -> None:
    assert hold_for(contact(), "info", utc(2026, 12, 2, 11, 0)) is None


def test_quiet_hours_survive_a_frozen_chain_round_trip() -> None:
    dumped = contact().model_dump(mode="json")
    assert dumped["quiet_hours"] == {"from": "22:00", "to": "07:00", "time_zone": "Europe/Berlin"}
    assert Contact.model_validate(dumped) == contact()


FILE = """\
contacts:
  ann:
    phone: "+14155550401"
    quiet_hours: {from: "22:00", to: "07:00", time_zone: Europe/Berlin}
  bob:
    phone: "+14155550402"
    quiet_hours:
      from: "22:00"
      to: "07:00"
      time_zone: Europe/Berlin
policies:
  p: {steps: [{targets: [ann, bob], channels: [sms], wait: 60}]}
default_policy: p
"""


def test_a_good_file_passes_the_check() -> None:
    assert check_config_text(FILE) == []


@pytest.mark.parametrize(
    ("old", "new", "path", "line", "message"),
    [
        (
            'to: "07:00"\n      time',
            'to: "25:00"\n      time',
            "to",
            9,
            'not a time of day: "25:00"',
        ),
        ('to: "07:00"\n      time', "to: 7:00\n      time", "to", 9, "write the time in quotes"),
        ("zone: Europe/Berlin\npol", "zone: Mars/Olympus\npol", "time_zone", 10, "unknown time"),
        ('from: "22:00"\n', 'from: "07:00"\n', "", 7, "cover nothing"),
    ],
)
def test_config_check_refuses_a_bad_time_or_zone_with_its_path_and_line(
    old, new, path, line, message
) -> None:
    assert FILE.count(old) == 1
    problems = check_config_text(textwrap.dedent(FILE.replace(old, new)))
    expected = "contacts.bob.quiet_hours" + (f".{path}" if path else "")
    assert [(p.path, p.line) for p in problems] == [(expected, line)], problems
    assert message in problems[0].message
