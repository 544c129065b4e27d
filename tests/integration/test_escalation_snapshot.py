"""The chain frozen onto an alert when its escalation starts.

An edit of the on-call file (a step removed, a number changed, a wait
changed) reaches new alerts only: an alert already paging runs the chain it
started with to its end. Alerts started before chains were frozen have no
snapshot and follow the file, as they always did.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests
from alembic import command
from sqlalchemy import inspect, select, text

from cli.stack import Stack, StackConfig
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import alembic_config, get_engine, session_scope, upgrade
from shared.core.models import Alert, Event, Notification, utcnow
from shared.escalation.engine import END_OF_CHAIN, start
from shared.escalation.hurry import escalate_alert_now
from shared.escalation.plan import Position
from shared.routing.oncall_config import parse_config
from shared.routing.route import config_and_policy, route_alert
from tests.polling import wait_for
from worker.escalation_runner import lost_from_file

FIRST, SECOND, SECOND_NEW, THIRD = "+14155550201", "+14155550202", "+14155550212", "+14155550203"

BEFORE = f"""
contacts:
  first:  {{phone: "{FIRST}", channels: [sms]}}
  second: {{phone: "{SECOND}", channels: [sms]}}
  third:  {{phone: "{THIRD}", channels: [sms]}}
policies:
  chain:
    steps:
      - {{targets: [first], channels: [sms], wait: 8}}
      - {{targets: [second], channels: [sms], wait: 3}}
      - {{targets: [third], channels: [sms], wait: 1}}
default_policy: chain
"""

# The third step removed, the second person's number changed, both waits changed.
AFTER = f"""
contacts:
  first:  {{phone: "{FIRST}", channels: [sms]}}
  second: {{phone: "{SECOND_NEW}", channels: [sms]}}
  third:  {{phone: "{THIRD}", channels: [sms]}}
policies:
  chain:
    steps:
      - {{targets: [first], channels: [sms], wait: 1}}
      - {{targets: [second], channels: [sms], wait: 600}}
default_policy: chain
"""


def write_config(path: Path, content: str) -> None:
    """Write the file and move its mtime on, so a reload cannot miss the edit."""
    path.write_text(content)
    later = time.time() + 2
    os.utime(path, (later, later))


# --------------------------------------------------------------------------- in one process


def _started(url: str, config_file: Path) -> int:
    """An alert routed and started on the file as it is now."""
    with session_scope(url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id
        routed = route_alert(session.get(Alert, alert_id), config_file)
        assert routed is not None
        assert start(session, alert_id, routed.policy, utcnow(), snapshot=routed.snapshot)
        assert not start(session, alert_id, routed.policy, utcnow(), snapshot=routed.snapshot)
    return alert_id


def _legacy(url: str, step: int = 0) -> int:
    """An alert started before chains were frozen: active, no snapshot."""
    with session_scope(url) as session:
        alert_id = accept_alert(session, AlertIn(summary="old alert")).alert_id
        alert = session.get(Alert, alert_id)
        alert.policy, alert.escalation, alert.esc_step = "chain", "active", step
        alert.next_fire_at = alert.dispatched_at = utcnow()
    return alert_id


def test_an_open_alert_keeps_its_chain_when_the_file_changes(database_url, tmp_path):
    config_file = tmp_path / "oncall.yaml"
    write_config(config_file, BEFORE)
    frozen_id = _started(database_url, config_file)
    legacy_id = _legacy(database_url)
    write_config(config_file, AFTER)
    new_id = _started(database_url, config_file)
    with session_scope(database_url) as session:
        frozen_config, frozen = config_and_policy(session.get(Alert, frozen_id), config_file)
        _legacy_config, legacy = config_and_policy(session.get(Alert, legacy_id), config_file)
        new_config, new = config_and_policy(session.get(Alert, new_id), config_file)
    assert [s.wait for s in frozen.steps] == [8, 3, 1]
    assert frozen_config.contacts["second"].phone == SECOND
    assert [s.wait for s in legacy.steps] == [1, 600]
    assert [s.wait for s in new.steps] == [1, 600]
    assert new_config.contacts["second"].phone == SECOND_NEW


def test_an_unreadable_snapshot_follows_the_file_loudly(database_url, tmp_path, caplog):
    config_file = tmp_path / "oncall.yaml"
    write_config(config_file, BEFORE)
    alert_id = _started(database_url, config_file)
    write_config(config_file, AFTER)
    with session_scope(database_url) as session:
        session.get(Alert, alert_id).escalation_snapshot = {"version": 99}
    with session_scope(database_url) as session, caplog.at_level(logging.ERROR):
        _config, policy = config_and_policy(session.get(Alert, alert_id), config_file)
    assert [s.wait for s in policy.steps] == [1, 600]
    assert "frozen chain unreadable" in caplog.text


def test_moving_on_at_once_follows_the_frozen_chain(database_url, tmp_path):
    config_file = tmp_path / "oncall.yaml"
    write_config(config_file, BEFORE)
    alert_id = _started(database_url, config_file)
    with session_scope(database_url) as session:
        session.get(Alert, alert_id).esc_step = 2  # step 1 fired; step 2 due later
    write_config(config_file, AFTER)  # the file has no step 2 any more
    with session_scope(database_url) as session:
        due = escalate_alert_now(
            session,
            session.get(Alert, alert_id),
            after=Position(1, 0),
            config_path=config_file,
            reason="test",
        )
    assert due == Position(2, 0)
    with session_scope(database_url) as session:
        assert session.get(Alert, alert_id).next_fire_at is not None
        hurried = session.scalars(select(Event).where(Event.kind == "escalation.hurried")).all()
    assert [e.detail["after_step"] for e in hurried] == [1]


def test_only_an_alert_without_a_snapshot_can_lose_its_position():
    policy = parse_config(AFTER).policies["chain"]
    legacy = Alert(escalation_snapshot=None)
    frozen = Alert(escalation_snapshot={"version": 1})
    assert lost_from_file(legacy, policy, Position(2, 0))
    assert lost_from_file(legacy, policy, Position(0, 1))
    assert not lost_from_file(legacy, policy, Position(1, 0))
    assert not lost_from_file(legacy, policy, Position(END_OF_CHAIN, 0))
    assert not lost_from_file(frozen, policy, Position(2, 0))


def test_the_migration_leaves_open_alerts_without_a_snapshot(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0005")
    with get_engine(url).begin() as connection:
        connection.execute(
            text(
                "INSERT INTO alerts (summary, severity, source, integration, details, labels,"
                " recipients, status, occurrences, created_at, last_occurrence_at, esc_step,"
                " esc_round, escalation, policy) VALUES ('old', 'critical', 'api', 'api', '{}',"
                " '{}', '[]', 'triggered', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00',"
                " 1, 0, 'active', 'chain')"
            )
        )
    upgrade(url)
    with session_scope(url) as session:
        [alert] = session.scalars(select(Alert)).all()
        assert (alert.escalation_snapshot, alert.esc_step, alert.policy) == (None, 1, "chain")
    command.downgrade(alembic_config(url), "0005")
    columns = {c["name"] for c in inspect(get_engine(url)).get_columns("alerts")}
    assert "escalation_snapshot" not in columns and "esc_step" in columns


# --------------------------------------------------------------------------- real processes


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    data_dir: Path = tmp_path_factory.mktemp("snapshot")
    config_file = data_dir / "oncall.yaml"
    write_config(config_file, BEFORE)
    config = StackConfig(
        data_dir=data_dir,
        redis_url=stack_broker,
        with_beat=True,
        extra_env={
            "CONFIG_FILE": str(config_file),
            "PERSON_SMS_PER_15M": "50",
            "BUNDLE_WINDOW_S": "0.5",
            "PERSON_SMS_PER_HOUR": "100",
        },
    )
    with Stack(config) as running:
        running.wait_for_workers()
        running.config_file = config_file  # type: ignore[attr-defined]
        yield running


def post_alert(stack, summary):
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json={"summary": summary, "severity": "critical"},
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def alert_row(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return session.get(Alert, alert_id)


def paged(stack, alert_id):
    """(step, destination) of each notification of the alert, in order."""
    with session_scope(stack.database_url) as session:
        rows = session.scalars(
            select(Notification).where(Notification.alert_id == alert_id).order_by(Notification.id)
        )
        return [(n.step, n.destination) for n in rows]


def steps_fired(stack, alert_id):
    """step -> seconds from its firing to the next position's due time."""
    with session_scope(stack.database_url) as session:
        events = session.scalars(
            select(Event).where(Event.alert_id == alert_id, Event.kind == "escalation.step_fired")
        )
        return {
            e.detail["step"]: (datetime.fromisoformat(e.detail["next_at"]) - e.at).total_seconds()
            for e in events
        }


def messages_to(stack, number):
    messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=5).json()
    return [m for m in messages if m["dst"].lstrip("+") == number.lstrip("+")]


@pytest.fixture(scope="module")
def started_before_edit(stack):
    """An alert on its chain, then the file edited (and reloaded) before its second step."""
    alert_id = post_alert(stack, "started before the edit")
    wait_for(lambda: alert_row(stack, alert_id).escalation_snapshot is not None)
    write_config(stack.config_file, AFTER)
    assert [step for step, _ in paged(stack, alert_id)] in ([], [0])  # step 1 is 8 s away
    return alert_id


def test_the_open_alert_pages_its_frozen_chain_to_its_end(stack, started_before_edit):
    alert_id = started_before_edit
    row = wait_for(
        lambda: (a := alert_row(stack, alert_id)).escalation == "exhausted" and a, timeout=40
    )
    assert row.status == "triggered"
    assert paged(stack, alert_id) == [(0, FIRST), (1, SECOND), (2, THIRD)]
    waits = steps_fired(stack, alert_id)
    assert waits[1] == pytest.approx(3, abs=0.5)  # the frozen wait, not the file's 600 s
    assert waits[2] == pytest.approx(1, abs=0.5)
    assert len(messages_to(stack, SECOND)) == 1
    assert len(messages_to(stack, THIRD)) == 1


def test_a_new_alert_follows_the_edited_file(stack, started_before_edit):
    alert_id = post_alert(stack, "started after the edit")
    wait_for(lambda: len(paged(stack, alert_id)) == 2, timeout=30)
    assert paged(stack, alert_id) == [(0, FIRST), (1, SECOND_NEW)]
    waits = steps_fired(stack, alert_id)
    assert waits == {0: pytest.approx(1, abs=0.5), 1: pytest.approx(600, abs=0.5)}
    wait_for(lambda: messages_to(stack, SECOND_NEW))
    row = alert_row(stack, alert_id)
    assert (row.escalation, row.esc_step) == ("active", END_OF_CHAIN)
    assert row.next_fire_at > utcnow() + timedelta(seconds=500)


def _insert_legacy(stack, step):
    with session_scope(stack.database_url) as session:
        alert = Alert(
            summary=f"started before chains were frozen, at step {step}",
            severity="critical",
            source="api",
            status="triggered",
            policy="chain",
            escalation="active",
            esc_step=step,
            esc_round=0,
            next_fire_at=utcnow(),
            dispatched_at=utcnow(),
        )
        session.add(alert)
        session.flush()
        return alert.id


def test_an_alert_without_a_snapshot_follows_the_file(stack, started_before_edit):
    alert_id = _insert_legacy(stack, 0)
    wait_for(lambda: len(paged(stack, alert_id)) == 2, timeout=30)
    assert paged(stack, alert_id) == [(0, FIRST), (1, SECOND_NEW)]
    assert steps_fired(stack, alert_id)[0] == pytest.approx(1, abs=0.5)
    assert alert_row(stack, alert_id).escalation_snapshot is None


def test_an_alert_without_a_snapshot_whose_step_left_the_file_ends(stack, started_before_edit):
    alert_id = _insert_legacy(stack, 2)  # the edited file has two steps
    row = wait_for(
        lambda: (a := alert_row(stack, alert_id)).escalation == "exhausted" and a, timeout=30
    )
    assert row.status == "triggered"
    assert paged(stack, alert_id) == []
