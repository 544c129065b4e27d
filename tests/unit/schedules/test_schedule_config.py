"""Schedules in the on-call file: each mistake named with its path and line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.routing.oncall_config import (
    ConfigError,
    check_config,
    check_config_text,
    load_config,
    parse_config,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

ROTA = """\
contacts:
  ann: {phone: "+14155550101"}
  bob: {phone: "+14155550102", channels: [voice]}
  cid: {phone: "+14155550103"}
teams:
  ops: {members: [ann, cid]}
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - name: weekly
        rotation: {members: [ann, cid], shift: 1w, handoff: "09:00", start: 2026-11-29}
      - name: business-hours
        rotation: {members: [cid], shift: 1d, handoff: "09:00", start: 2026-11-29}
        restrict:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
policies:
  p:
    steps:
      - {targets: [primary], channels: [sms], wait: 5m}
      - {targets: [ops], channels: [sms, voice], wait: 5m}
default_policy: p
"""


def problems_with(old: str, new: str) -> list[str]:
    assert old in ROTA
    return [str(p) for p in check_config_text(ROTA.replace(old, new), now=NOW)]


def test_a_schedule_is_a_step_target() -> None:
    assert check_config_text(ROTA, now=NOW) == []
    config = parse_config(ROTA)
    primary = config.schedule_named("primary")
    assert primary is not None
    assert primary.name == "primary"
    assert primary.members == ("ann", "cid")
    assert config.schedule_named("ops") is None
    assert config.schedule_named("ann") is None
    # whom a schedule pages is decided when the step fires, not when the file is read
    step, team_step = config.policies["p"].steps
    assert config.expand_targets(step) == []
    assert [c.name for c in config.expand_targets(team_step)] == ["ann", "cid"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "members: [ann, cid], shift",
            "members: [], shift",
            "line 12: schedules.primary.layers[0].rotation.members: "
            "a rotation needs at least one member",
        ),
        (
            "members: [ann, cid], shift",
            "members: [ann, zed], shift",
            'line 12: schedules.primary.layers[0].rotation.members[1]: unknown contact "zed"',
        ),
        (
            "members: [ann, cid], shift",
            "members: [ann, ops], shift",
            "line 12: schedules.primary.layers[0].rotation.members[1]: "
            '"ops" is a team: a rotation lists contacts',
        ),
        (
            "time_zone: Europe/Berlin",
            "time_zone: Europe/Berln",
            "line 9: schedules.primary.time_zone: "
            'unknown time zone "Europe/Berln" (use an IANA name like Europe/Berlin)',
        ),
        (
            "shift: 1w",
            "shift: 7",
            "line 12: schedules.primary.layers[0].rotation.shift: "
            'not a shift length: "7" (use hours, days or weeks: 12h, 1d, 1w)',
        ),
        (
            'to: "17:00"',
            "to: 17:00",
            "line 16: schedules.primary.layers[1].restrict[0].to: "
            'write the time in quotes, like "17:00" (YAML reads 17:00 as a number)',
        ),
        (
            "days: [mon, tue, wed, thu, fri]",
            "days: [mon, tue, wed, thu, fri, someday]",
            "line 16: schedules.primary.layers[1].restrict[0].days[5]: "
            "\"someday\" is not one of 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'",
        ),
        (
            "targets: [primary]",
            "targets: [primray]",
            'line 20: policies.p.steps[0].targets[0]: unknown contact, team or schedule "primray"',
        ),
    ],
)
def test_a_bad_schedule_is_refused_with_its_path_and_line(
    old: str, new: str, expected: str
) -> None:
    assert problems_with(old, new) == [expected]
    with pytest.raises(ConfigError):
        parse_config(ROTA.replace(old, new))


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (
            '{days: [], from: "09:00", to: "17:00"}',
            "line 16: schedules.primary.layers[1].restrict[0]: covers nothing: no days",
        ),
        (
            '{days: [mon], from: "09:00", to: "09:00"}',
            "line 16: schedules.primary.layers[1].restrict[0]: covers nothing: "
            '"from" and "to" are both 09:00 (a whole day is from "00:00" to "24:00")',
        ),
    ],
)
def test_a_window_that_covers_nothing_is_reported(new: str, expected: str) -> None:
    old = '{days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}'
    assert problems_with(old, new) == [expected]
    with pytest.raises(ConfigError):
        parse_config(ROTA.replace(old, new))


def test_a_layer_with_no_windows_is_reported() -> None:
    old = 'restrict:\n          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}'
    assert problems_with(old, "restrict: []") == [
        "line 15: schedules.primary.layers[1].restrict: covers nothing: no windows "
        "(leave `restrict` out for a layer that always covers)"
    ]


@pytest.mark.parametrize(("name", "kind"), [("ann", "contact"), ("ops", "team")])
def test_a_schedule_named_like_a_contact_or_team_is_refused(name: str, kind: str) -> None:
    text = ROTA.replace("  primary:\n", f"  {name}:\n").replace("[primary]", f"[{name}]")
    problems = [str(p) for p in check_config_text(text, now=NOW)]
    assert problems == [
        f'line 8: schedules.{name}: schedule "{name}" has the name of a {kind}: use another name'
    ]


def test_a_schedule_member_a_step_cannot_reach_is_reported() -> None:
    assert problems_with("members: [ann, cid], shift: 1w", "members: [ann, bob], shift: 1w") == [
        "line 20: policies.p.steps[0].targets[0]: "
        '"bob" (schedule "primary") accepts none of this step\'s channels (sms)'
    ]


GAPPY = """\
      - name: weekly
        rotation: {members: [ann, cid], shift: 1w, handoff: "09:00", start: 2026-11-29}
        restrict:
          - {days: [mon, tue, wed, thu, fri, sun], from: "00:00", to: "24:00"}
          - {days: [sat], from: "08:00", to: "24:00"}
"""


def test_a_gap_is_reported_by_config_check_but_does_not_stop_a_load(tmp_path: Path) -> None:
    old = (
        "      - name: weekly\n"
        '        rotation: {members: [ann, cid], shift: 1w, handoff: "09:00", start: 2026-11-29}\n'
    )
    text = ROTA.replace(old, GAPPY)
    file = tmp_path / "oncall.yaml"
    file.write_text(text)
    assert [str(p) for p in check_config(file, now=NOW)] == [
        "line 8: schedules.primary: no one on call Saturdays 00:00–08:00 (Europe/Berlin)"
    ]
    # paging goes on: a step whose schedule has nobody moves on to the next step
    assert load_config(file).schedule_named("primary") is not None


def test_a_rotation_starting_later_leaves_a_gap_until_it_starts() -> None:
    late = ROTA.replace("start: 2026-11-29}", "start: 2026-12-09}")
    assert [str(p) for p in check_config_text(late, now=NOW)] == [
        "line 8: schedules.primary: no one on call until Wed 9 Dec 2026 09:00 (Europe/Berlin)"
    ]
