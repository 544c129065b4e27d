"""Who is on call: rotations on the local clock, layers, overrides, DST in two zones."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.routing.oncall_config import OncallConfig, parse_config
from shared.schedules.model import Schedule
from shared.schedules.overrides import Override
from shared.schedules.resolve import Shift, next_handoffs, on_call

BERLIN = ZoneInfo("Europe/Berlin")  # 2026: summer time from Mar 29 02:00, ends Oct 25 03:00
NEW_YORK = ZoneInfo("America/New_York")  # 2026: from Mar 8 02:00, ends Nov 1 02:00

PEOPLE = ("ann", "bob", "cid", "dan", "eve", "fay", "gus", "hal", "ida", "jon", "kim")

SCHEDULES = """\
schedules:
  berlin:
    time_zone: Europe/Berlin
    layers:
      - name: weekly                    # hands off on Sundays at 09:00
        rotation: {members: [ann, bob, cid], shift: 1w, handoff: "09:00", start: 2026-03-22}
      - name: business-hours
        rotation: {members: [dan, eve], shift: 1d, handoff: "09:00", start: 2026-03-23}
        restrict:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
  nyc:
    time_zone: America/New_York
    layers:
      - name: weekly
        rotation: {members: [gus, hal], shift: 1w, handoff: "09:00", start: 2026-03-01}
      - name: business-hours
        rotation: {members: [ida, jon], shift: 1d, handoff: "09:00", start: 2026-03-02}
        restrict:
          - {days: [monday, tuesday, wednesday, thursday, friday], from: "09:00", to: "17:00"}
  hourly:
    time_zone: Europe/Berlin
    layers:
      - name: twelve-hours
        rotation: {members: [ann, bob], shift: 12h, handoff: "08:00", start: 2026-03-28}
"""


def config_with(schedules: str) -> OncallConfig:
    contacts = "".join(
        f'  {name}: {{phone: "+1415555{n:04d}"}}\n' for n, name in enumerate(PEOPLE, start=101)
    )
    policy = "policies:\n  p:\n    steps:\n      - {targets: [ann], channels: [sms], wait: 0}\n"
    return parse_config(f"contacts:\n{contacts}{schedules}{policy}default_policy: p\n")


CONFIG = config_with(SCHEDULES)


def schedule(name: str) -> Schedule:
    found = CONFIG.schedule_named(name)
    assert found is not None
    return found


def at(zone: ZoneInfo, text: str, fold: int = 0) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


OVERRIDES = (
    # "fay covers for ann from Friday 18:00 to Monday 09:00", across the spring change
    Override(
        "berlin", "fay", at(BERLIN, "2026-03-27 18:00"), at(BERLIN, "2026-03-30 09:00"), "ann"
    ),
    # kim takes all of Saturday, whoever the rotation has
    Override("nyc", "kim", at(NEW_YORK, "2026-11-07 00:00"), at(NEW_YORK, "2026-11-08 00:00")),
    # for another schedule: never applies here
    Override("other", "kim", at(BERLIN, "2026-01-01 00:00"), at(BERLIN, "2027-01-01 00:00")),
)

MOMENTS = [
    # Berlin: week 0 is ann's (from Sun Mar 22 09:00); days alternate dan, eve from Mon Mar 23.
    ("berlin", at(BERLIN, "2026-03-23 08:59"), "ann"),  # before business hours
    ("berlin", at(BERLIN, "2026-03-23 09:00"), "dan"),  # the higher layer wins
    ("berlin", at(BERLIN, "2026-03-24 16:59"), "eve"),
    ("berlin", at(BERLIN, "2026-03-24 17:00"), "ann"),  # business hours end
    ("berlin", at(BERLIN, "2026-03-27 17:59"), "ann"),  # the override starts at 18:00
    ("berlin", at(BERLIN, "2026-03-27 18:00"), "fay"),
    ("berlin", at(BERLIN, "2026-03-29 01:59"), "fay"),  # last minute of winter time
    ("berlin", at(BERLIN, "2026-03-29 03:00"), "fay"),  # first minute of summer time
    ("berlin", at(BERLIN, "2026-03-29 08:59"), "fay"),  # still ann's week, so fay's
    ("berlin", at(BERLIN, "2026-03-29 09:30"), "bob"),  # hand-off at 09:00 summer time
    ("berlin", at(BERLIN, "2026-03-30 09:00"), "eve"),  # day 7 of the daily rotation
    ("berlin", at(BERLIN, "2026-10-25 02:30", fold=1), "ann"),  # the repeated hour
    ("berlin", at(BERLIN, "2026-10-25 08:59"), "ann"),  # week 30 (30 % 3 = 0)
    ("berlin", at(BERLIN, "2026-10-25 09:00"), "bob"),  # hand-off at 09:00 winter time
    # New York: gus from Sun Mar 1 09:00, alternating weekly; ida, jon daily from Mar 2.
    ("nyc", at(NEW_YORK, "2026-03-08 08:59"), "gus"),
    ("nyc", at(NEW_YORK, "2026-03-08 09:00"), "hal"),
    ("nyc", at(NEW_YORK, "2026-11-01 08:59"), "gus"),  # week 34
    ("nyc", at(NEW_YORK, "2026-11-01 09:00"), "hal"),  # week 35, after the change
    ("nyc", at(NEW_YORK, "2026-11-02 16:59"), "jon"),  # day 245 of the daily rotation
    ("nyc", at(NEW_YORK, "2026-11-02 17:00"), "hal"),
    ("nyc", at(NEW_YORK, "2026-11-07 12:00"), "kim"),  # the override without `replaces`
    ("nyc", at(NEW_YORK, "2026-11-08 00:00"), "hal"),  # the override has ended
]


@pytest.mark.parametrize(("name", "moment", "expected"), MOMENTS)
def test_the_right_person_at_each_moment(name: str, moment: datetime, expected: str) -> None:
    assert on_call(schedule(name), moment, OVERRIDES) == (expected,)
    # the same instant given in another zone gets the same answer
    assert on_call(schedule(name), moment.astimezone(UTC), OVERRIDES) == (expected,)


def test_day_hand_offs_follow_the_local_clock_across_dst() -> None:
    # 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer
    berlin = schedule("berlin")
    assert on_call(berlin, utc("2026-03-29 06:59")) == ("ann",)
    assert on_call(berlin, utc("2026-03-29 07:00")) == ("bob",)
    assert on_call(berlin, utc("2026-10-25 07:59")) == ("ann",)
    assert on_call(berlin, utc("2026-10-25 08:00")) == ("bob",)


def test_hour_shifts_count_elapsed_hours_across_dst() -> None:
    # first hand-off Sat Mar 28 08:00 CET (07:00 UTC); 12 h shifts stay 12 elapsed hours,
    # so Sunday's hand-off is at 07:00 UTC, which is 09:00 summer time
    hourly = schedule("hourly")
    assert on_call(hourly, at(BERLIN, "2026-03-28 07:59")) == ()  # before the start
    assert on_call(hourly, at(BERLIN, "2026-03-28 08:00")) == ("ann",)
    assert on_call(hourly, at(BERLIN, "2026-03-28 20:00")) == ("bob",)
    assert on_call(hourly, at(BERLIN, "2026-03-29 08:30")) == ("bob",)
    assert on_call(hourly, at(BERLIN, "2026-03-29 09:00")) == ("ann",)
    shifts = next_handoffs(hourly, at(BERLIN, "2026-03-29 08:30"), 2)
    assert [(s.start, s.end, s.contacts) for s in shifts] == [
        (utc("2026-03-28 19:00"), utc("2026-03-29 07:00"), ("bob",)),
        (utc("2026-03-29 07:00"), utc("2026-03-29 19:00"), ("ann",)),
        (utc("2026-03-29 19:00"), utc("2026-03-30 07:00"), ("bob",)),
    ]


def test_before_the_start_nobody_is_on_call() -> None:
    assert on_call(schedule("berlin"), at(BERLIN, "2026-03-22 08:59")) == ()


def test_an_override_with_replaces_leaves_other_people_on_call() -> None:
    bob_week = at(BERLIN, "2026-04-04 12:00")
    swap = Override("berlin", "fay", bob_week - timedelta(hours=1), bob_week + timedelta(hours=1))
    only_ann = Override("berlin", "fay", swap.start, swap.end, replaces="ann")
    assert on_call(schedule("berlin"), bob_week, [only_ann]) == ("bob",)
    assert on_call(schedule("berlin"), bob_week, [swap]) == ("fay",)
    assert on_call(schedule("berlin"), swap.end, [swap]) == ("bob",)  # end is exclusive


def test_an_override_without_replaces_fills_a_gap() -> None:
    nights = config_with(
        textwrap.dedent("""\
        schedules:
          days:
            time_zone: Europe/Berlin
            layers:
              - name: day
                rotation: {members: [ann], shift: 1d, handoff: "08:00", start: 2026-03-01}
                restrict: [{from: "08:00", to: "20:00"}]
        """)
    ).schedules["days"]
    night = at(BERLIN, "2026-03-10 23:00")
    cover = Override("days", "bob", night - timedelta(hours=1), night + timedelta(hours=1))
    assert on_call(nights, night) == ()
    assert on_call(nights, night, [cover]) == ("bob",)


def test_next_handoffs_lists_every_change_with_override_edges() -> None:
    shifts = next_handoffs(schedule("berlin"), at(BERLIN, "2026-03-27 12:00"), 4, OVERRIDES)
    assert shifts == [
        Shift(utc("2026-03-27 08:00"), utc("2026-03-27 16:00"), ("dan",)),  # day 4
        Shift(utc("2026-03-27 16:00"), utc("2026-03-27 17:00"), ("ann",)),
        Shift(utc("2026-03-27 17:00"), utc("2026-03-29 07:00"), ("fay",)),  # override
        Shift(utc("2026-03-29 07:00"), utc("2026-03-30 07:00"), ("bob",)),  # Sunday 09:00 CEST
        Shift(utc("2026-03-30 07:00"), utc("2026-03-30 15:00"), ("eve",)),
    ]


def test_next_handoffs_skips_hand_offs_that_change_nobody() -> None:
    solo = config_with(
        "schedules:\n  solo:\n    time_zone: UTC\n    layers:\n      - name: all\n"
        '        rotation: {members: [ann], shift: 1d, handoff: "00:00", start: 2026-03-01}\n'
    ).schedules["solo"]
    moment = utc("2026-03-10 12:00")
    # ann has been on call since the first hand-off; no change within the horizon
    assert next_handoffs(solo, moment, 3) == [
        Shift(utc("2026-03-01 00:00"), moment + timedelta(days=90), ("ann",))
    ]


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        on_call(schedule("berlin"), datetime(2026, 3, 23, 9, 0))
