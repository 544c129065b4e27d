"""Maintenance mode's decisions, without clocks or databases: which window acts on an
alert, what a downgrade makes of each severity, how a hold is shown, and the
`maintenance:` block refused at `config check` with its path and line."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from shared.alerts.maintenance import (
    DOWNGRADE,
    HOLD,
    active_rules,
    describe,
    lowered,
    maintenance_view,
    record,
    still_held,
    verdict,
)
from shared.routing.oncall_config import check_config_text, parse_config

ROTA = """\
contacts:
  ops: {phone: "+14155550101"}
policies:
  p:
    steps:
      - {targets: [ops], channels: [sms], wait: 5m}
default_policy: p
notices:
"""


def notice(
    name: str, start: str, duration: str, maintenance: str, zone: str = "UTC", more: str = ""
) -> str:
    return textwrap.indent(
        textwrap.dedent(f"""\
        {name}:
          title: {name}
          window: {{start: "{start}", duration: {duration}, time_zone: {zone}{more}}}
          reminders: [start]
          audience: {{contacts: [ops]}}
          templates: {{sms: "{{title}}"}}
          maintenance: {maintenance}
        """),
        "  ",
    )


@dataclass
class FakeAlert:
    severity: str = "critical"
    source: str = "prometheus"
    labels: dict[str, str] = field(default_factory=dict)


DB_PROD = FakeAlert(labels={"service": "db", "env": "prod"})
WEB = FakeAlert(labels={"service": "web", "env": "prod"})


def notices(*blocks: str):  # type: ignore[no-untyped-def]
    return parse_config(ROTA + "".join(blocks)).notices


def test_a_hold_acts_only_while_its_window_runs_and_only_on_matching_alerts() -> None:
    found = notices(
        notice("db", "2030-01-01 02:00", "2h", "{match: {service: db, env: prod}, action: hold}")
    )
    before = datetime(2030, 1, 1, 1, 59, 59, tzinfo=UTC)
    during = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    end = datetime(2030, 1, 1, 4, 0, tzinfo=UTC)
    assert active_rules(found, before) == []
    assert active_rules(found, end) == []  # the end is not in the window
    [rule] = active_rules(found, during)
    assert (rule.notice, rule.action, rule.end) == ("db", HOLD, end)
    assert verdict(DB_PROD, [rule]) == rule
    assert verdict(WEB, [rule]) is None
    assert verdict(FakeAlert(labels={"service": "db"}), [rule]) is None  # every matcher must hold


def test_a_recurring_window_holds_in_each_occurrence_in_its_own_time_zone() -> None:
    found = notices(
        notice(
            "nightly",
            "2030-03-01 02:00",
            "1h",
            "{match: {service: db}, action: hold}",
            zone="Europe/Paris",
            more=', cron: "0 2 * * *"',
        )
    )
    # 02:30 in Paris, on either side of the change to summer time (30 March 2030).
    winter = datetime(2030, 3, 20, 1, 30, tzinfo=UTC)
    summer = datetime(2030, 4, 2, 0, 30, tzinfo=UTC)
    assert [r.end for r in active_rules(found, winter)] == [winter + timedelta(minutes=30)]
    assert [r.end for r in active_rules(found, summer)] == [summer + timedelta(minutes=30)]
    assert active_rules(found, summer + timedelta(hours=1)) == []


def test_hold_wins_then_the_window_ending_last_then_the_name() -> None:
    found = notices(
        notice("a-down", "2030-01-01 02:00", "5h", "{match: {service: db}, action: downgrade}"),
        notice("b-short", "2030-01-01 02:00", "1h", "{match: {service: db}, action: hold}"),
        notice("c-long", "2030-01-01 02:00", "3h", "{match: {service: db}, action: hold}"),
    )
    rules = active_rules(found, datetime(2030, 1, 1, 2, 30, tzinfo=UTC))
    assert [r.notice for r in rules] == ["c-long", "b-short", "a-down"]
    assert verdict(DB_PROD, rules).notice == "c-long"
    # Once the holds are over, the downgrade still acts: not held any more, paged lower.
    later = active_rules(found, datetime(2030, 1, 1, 5, 30, tzinfo=UTC))
    assert still_held(DB_PROD, later) is None
    assert verdict(DB_PROD, later).action is DOWNGRADE


def test_severity_and_source_match_the_alerts_own_fields_unless_labels_say_otherwise() -> None:
    found = notices(
        notice(
            "quiet",
            "2030-01-01 02:00",
            "1h",
            '{match: {service: db, severity: "~(error|warning|info)"}, action: downgrade}',
        )
    )
    rules = active_rules(found, datetime(2030, 1, 1, 2, 30, tzinfo=UTC))
    assert verdict(FakeAlert("critical", labels={"service": "db"}), rules) is None
    assert verdict(FakeAlert("warning", labels={"service": "db"}), rules) is not None
    labelled = FakeAlert("critical", labels={"service": "db", "severity": "warning"})
    assert verdict(labelled, rules) is not None


@pytest.mark.parametrize(
    ("sent", "paged"),
    [("critical", "error"), ("error", "warning"), ("warning", "info"), ("info", "info")],
)
def test_a_downgrade_is_one_level_and_info_stays_info(sent: str, paged: str) -> None:
    assert lowered(sent) == paged


def test_a_hold_is_shown_with_its_notice_and_end_in_the_windows_time_zone() -> None:
    found = notices(
        notice(
            "db-upgrade",
            "2030-01-01 02:00",
            "1h",
            "{match: {service: db}, action: hold}",
            zone="Europe/Paris",
        )
    )
    now = datetime(2030, 1, 1, 1, 30, tzinfo=UTC)  # 02:30 in Paris
    [rule] = active_rules(found, now)
    stored = record(rule, "critical")
    assert describe(stored, rule.end, "triggered", now) == (
        "held (maintenance db-upgrade until 03:00 CET)"
    )
    view = maintenance_view(stored, rule.end, "triggered", now)
    assert view is not None and view["held"] is True and view["action"] == "hold"
    released = {**stored, "released_at": rule.end.isoformat()}
    assert describe(released, None, "triggered", now) == (
        "was held (maintenance db-upgrade), paged 03:00 CET"
    )
    assert describe(stored, None, "resolved", now) == (
        "was held (maintenance db-upgrade), resolved while held"
    )
    tomorrow = now - timedelta(days=1)
    assert "2030-01-01 03:00 CET" in (describe(stored, rule.end, "triggered", tomorrow) or "")
    assert describe(None, None, "triggered", now) is None


def test_a_downgrade_is_shown_with_the_severity_as_sent() -> None:
    found = notices(
        notice("db", "2030-01-01 02:00", "1h", "{match: {service: db}, action: downgrade}")
    )
    now = datetime(2030, 1, 1, 2, 30, tzinfo=UTC)
    [rule] = active_rules(found, now)
    text = describe(record(rule, "critical"), None, "triggered", now)
    assert text == "downgraded from critical (maintenance db)"


def test_a_wrong_maintenance_block_is_refused_with_its_path_and_line() -> None:
    text = ROTA + notice("db", "2030-01-01 02:00", "1h", "{match: {}, action: silence}")
    found = [(p.path, p.line, p.message) for p in check_config_text(text, now=datetime.now(UTC))]
    assert ("notices.db.maintenance.match", 15, found[0][2]) in found
    assert "empty match would hold every alert" in found[0][2]
    assert any(
        path == "notices.db.maintenance.action" and "'hold' or 'downgrade'" in message
        for path, _, message in found
    )
