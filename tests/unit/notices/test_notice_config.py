"""Notices in the on-call file: each mistake named with its path and line at `config check`."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.routing.oncall_config import (
    ConfigError,
    ConfigProblem,
    check_config,
    check_config_text,
    load_config,
    parse_config,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)

ROTA = """\
contacts:
  alice: {phone: "+14155550101"}
  bob: {phone: "+14155550102", channels: [voice]}
teams:
  db: {members: [alice]}
policies:
  p:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
default_policy: p
"""

NOTICE = """\
notices:
  upgrade:
    title: DB upgrade
    window:
      start: "2026-12-06 02:00"
      duration: 2h
      time_zone: Europe/Paris
    reminders: [-24h, start, end]
    audience:
      teams: [db]
      contacts: [bob]
    templates:
      sms: "{title} {start} to {end}"
"""


def problems(text: str, **replace: str) -> list[ConfigProblem]:
    for old, new in replace.items():
        if old not in text:
            raise KeyError(old)
        text = text.replace(old, new)
    return check_config_text(ROTA + textwrap.dedent(text), now=NOW)


def only(text: str, **replace: str) -> ConfigProblem:
    (problem,) = problems(text, **replace)
    return problem


def test_a_valid_notice_loads_with_the_rest() -> None:
    assert problems(NOTICE) == []
    config = parse_config(ROTA + NOTICE)
    notice = config.notices["upgrade"]
    assert notice.name == "upgrade"
    assert [r.key for r in notice.ordered_reminders] == ["-24h", "start", "end"]
    assert config.policies["p"].steps[0].wait == 300


def test_a_file_without_notices_has_none() -> None:
    config = parse_config(ROTA)
    assert config.notices == {} and config.subscriber_lists == {}


CRON = 'duration: 2h\n      cron: "0 2 30 2 *"'
RRULE = "duration: 2h\n      rrule: FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31"
SMS = "{title} {start} to {end}"
AT = "notices.upgrade."
BAD = [
    ("teams: [db]", "teams: [dba]", AT + "audience.teams[0]", 20, 'unknown team "dba"'),
    ("contacts: [bob]", "contacts: [bobby]", AT + "audience.contacts[0]", 21, '"bobby"'),
    ("{end}", "{ende}", AT + "templates.sms", 23, 'unknown placeholder "{ende}"'),
    ("Paris", "Pari", AT + "window.time_zone", 17, 'unknown time zone "Europe/Pari"'),
    ("start, end]", "start, later]", AT + "reminders[2]", 18, 'not a reminder: "later"'),
    ("duration: 2h", CRON, AT + "window.cron", 17, '"0 2 30 2 *" never fires'),
    ("duration: 2h", RRULE, AT + "window.rrule", 17, "never fires"),
    ("12-06", "11-06", AT + "window.start", 15, "in the past (ended 2026-11-06 04:00 CET)"),
    (SMS, "{title} {impact}", AT + "templates.sms", 23, 'uses "{impact}" but the notice has no'),
    (SMS, "{title}" + "ж" * 700, AT + "templates.sms", 23, "the SMS is 11 segments (UCS-2, 710"),
    ("contacts: [bob]", "lists: [x]", AT + "audience.lists[0]", 21, 'unknown subscriber list "x"'),
    ("    reminders:", "    channels: [sms, voice]\n    reminders:", AT + "channels[1]", 18,
     "no `templates.voice` for this channel"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "path", "line", "message"), BAD)
def test_each_bad_notice_is_named_with_its_path_and_line(
    old: str, new: str, path: str, line: int, message: str
) -> None:
    problem = only(NOTICE, **{old: new})
    assert (problem.path, problem.line) == (path, line)
    assert message in problem.message


def test_a_past_window_is_reported_by_the_check_but_does_not_refuse_a_load(tmp_path) -> None:
    file = tmp_path / "oncall.yaml"
    file.write_text(ROTA + NOTICE.replace("2026-12-06", "2020-12-06"))
    (problem,) = check_config(file, now=NOW)
    assert "in the past" in problem.message
    assert load_config(file).notices["upgrade"].title == "DB upgrade"
    assert check_config(file, now=datetime(2020, 12, 1, tzinfo=UTC)) == []


def test_a_recurring_window_with_a_past_start_is_not_stale() -> None:
    weekly = NOTICE.replace('"2026-12-06 02:00"', '"2020-01-05 02:00"\n      cron: "0 2 * * SUN"')
    assert problems(weekly) == []


LISTS = """\
subscriber_lists:
  customers: {csv: customers.csv}
"""


def write(tmp_path: Path, csv: str, notice: str = NOTICE) -> Path:
    (tmp_path / "customers.csv").write_text(csv)
    file = tmp_path / "oncall.yaml"
    with_list = notice.replace("      contacts: [bob]", "      lists: [customers]")
    file.write_text(ROTA + LISTS + with_list)
    return file


def test_bad_csv_rows_are_named_with_file_and_line_and_the_rest_kept(tmp_path) -> None:
    csv = "name,phone\nann,+14155550121\nbo,+1555\n\ncy,+1 415 555 0122\ndi,+14155550121\nx,0123\n"
    file = write(tmp_path, csv)
    found = check_config(file, now=NOW)
    assert [(p.path, p.line) for p in found] == [("subscriber_lists.customers.csv", 12)] * 2
    assert found[0].message == (
        'customers.csv line 3: bad phone number "+1555": not a valid phone number for its country'
    )
    assert found[1].message.startswith('customers.csv line 7: bad phone number "0123"')
    numbers = load_config(file).subscriber_lists["customers"].numbers
    assert numbers == ("+14155550121", "+14155550122")


def test_a_csv_of_bare_numbers_is_read_too(tmp_path) -> None:
    file = write(tmp_path, "+14155550121\n# left out\n+14155550123\n")
    assert check_config(file, now=NOW) == []
    assert load_config(file).subscriber_lists["customers"].numbers == (
        "+14155550121",
        "+14155550123",
    )


def test_a_missing_csv_refuses_the_load(tmp_path) -> None:
    file = write(tmp_path, "")
    (tmp_path / "customers.csv").unlink()
    (problem,) = check_config(file, now=NOW)
    assert (problem.path, problem.line) == ("subscriber_lists.customers.csv", 12)
    assert problem.message.startswith("cannot read ")
    with pytest.raises(ConfigError, match="customers.csv"):
        load_config(file)


def test_a_bad_notice_refuses_the_load_like_any_other_mistake(tmp_path) -> None:
    file = tmp_path / "oncall.yaml"
    file.write_text(ROTA + NOTICE.replace("{end}", "{ende}"))
    with pytest.raises(ConfigError, match="notices.upgrade.templates.sms"):
        load_config(file)
