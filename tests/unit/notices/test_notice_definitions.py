"""Notices defined by API or CLI: checked as the file's are, each problem named by its
field; stored in the words of the file and read back unchanged; changes applied to them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.notices.definitions import (
    DefinitionError,
    check_definition,
    stored_notice,
    to_definition,
)
from shared.notices.updates import NoticeChange, changed_definition
from shared.routing.oncall_config import parse_config

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
CONFIG = parse_config(
    """
contacts:
  alice: {phone: "+14155550101"}
teams:
  db: {members: [alice]}
policies:
  p:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
default_policy: p
subscriber_lists:
  customers: {numbers: ["+14155552000"]}
"""
)


def body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "db-upgrade",
        "title": "DB upgrade",
        "window": {"start": "2026-12-06T02:00", "duration": "2h", "time_zone": "Europe/Paris"},
        "reminders": ["-24h", "start", "end"],
        "audience": {"teams": ["db"], "lists": ["customers"]},
        "templates": {"sms": "{title} {start} to {end}"},
    }
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    return data


def problems(data: Any) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as refused:
        check_definition(data, CONFIG, NOW)
    return [(p.field, p.message) for p in refused.value.problems]


def test_a_valid_definition_is_stored_in_the_files_words_and_read_back_unchanged() -> None:
    notice = check_definition(body(), CONFIG, NOW)
    stored = to_definition(notice)
    assert stored["reminders"] == ["-24h", "start", "end"]
    assert stored["window"] == {
        "start": "2026-12-06T02:00:00",
        "duration": 7200,
        "time_zone": "Europe/Paris",
    }
    assert stored_notice(stored) == notice
    assert check_definition(stored, CONFIG, NOW) == notice


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"audience": {"teams": ["dba"]}}, "audience.teams.0", 'unknown team "dba"'),
        ({"audience": {"contacts": ["bob"]}}, "audience.contacts.0", 'unknown contact "bob"'),
        ({"audience": {"lists": ["vip"]}}, "audience.lists.0", 'unknown subscriber list "vip"'),
        ({"templates": {"sms": "{strat}"}}, "templates.sms", 'unknown placeholder "{strat}"'),
        (
            {"window": {"start": "2026-11-29T02:00"}},
            "window.start",
            "the window is in the past (ended 2026-11-29 04:00 CET)",
        ),
        (
            {"window": {"cron": "0 2 30 2 *"}},
            "window.cron",
            '"0 2 30 2 *" never fires (no date matches it)',
        ),
        ({"templates": {"sms": "ж" * 700}}, "templates.sms", "the SMS is 11 segments (UCS-2"),
        ({"window": {"start": "2026-12-06T02:00Z"}}, "window.start", "without an offset"),
        ({"surprise": 1}, "surprise", "unknown key"),
    ],
)
def test_each_mistake_is_refused_naming_its_field(change: Any, field: str, message: str) -> None:
    found = problems(body(**change))
    assert [f for f, _ in found] == [field]
    assert message in found[0][1]


def test_without_an_on_call_file_nobody_can_be_named() -> None:
    with pytest.raises(DefinitionError) as refused:
        check_definition(body(), None, NOW)
    assert [p.field for p in refused.value.problems] == ["audience.teams.0"]


def test_a_series_whose_windows_are_all_over_is_refused() -> None:
    rule = {"start": "2026-01-05T02:00", "rrule": "FREQ=WEEKLY;UNTIL=20260301T000000"}
    assert problems(body(window=rule)) == [("window", "every window of the series is over")]


def test_a_body_that_is_not_a_mapping_is_refused_as_a_whole() -> None:
    assert problems([1, 2]) == [("", "a notice is a mapping (a JSON object)")]


def test_extend_makes_the_window_longer_and_words_replace_only_what_is_given() -> None:
    notice = check_definition(body(), CONFIG, NOW)
    change = NoticeChange.model_validate(
        {"extend": "30m", "title": "DB upgrade v2", "templates": {"voice": "x"}}
    )
    data = changed_definition(notice, change)
    assert data["window"]["duration"] == 9000
    assert data["title"] == "DB upgrade v2"
    assert data["templates"] == {"sms": "{title} {start} to {end}", "voice": "x"}
    assert data["audience"] == to_definition(notice)["audience"]


def test_a_new_start_moves_a_one_off_window_but_not_a_series() -> None:
    notice = check_definition(body(), CONFIG, NOW)
    change = NoticeChange.model_validate({"window": {"start": "2026-12-07 03:00"}})
    assert changed_definition(notice, change)["window"]["start"] == "2026-12-07T03:00:00"
    series = check_definition(body(window={"cron": "0 2 * * SUN"}), CONFIG, NOW)
    with pytest.raises(DefinitionError) as refused:
        changed_definition(series, change)
    assert refused.value.problems[0].field == "window.start"


@pytest.mark.parametrize(
    "change",
    [{}, {"window": {}}, {"extend": "30m", "window": {"duration": "1h"}}, {"extend": "soon"}],
)
def test_an_empty_or_contradictory_change_is_refused(change: dict[str, Any]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        NoticeChange.model_validate(change)
