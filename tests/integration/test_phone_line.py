"""The on-call phone line, called through the Plivo simulator.

A real receiver over HTTP (with an on-call file), a migrated database and the
test Redis; the simulator places the inbound call, signs every request as
Plivo does, presses the given keys at each GetInput and records what the
caller heard and which number a `<Dial>` put them through to.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from cli.stack import SIMULATOR_AUTH_TOKEN, free_port
from shared.core.db import session_scope
from shared.core.models import Alert, Event
from shared.core.settings import load_settings
from shared.notifications.voice_xml import say_digits
from shared.phone_line.words import MENU, NO_INPUT, REFUSED
from shared.schedules.override_store import create_override
from shared.schedules.overrides import Override
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.conftest import ServedApp
from tests.integration.test_security_callbacks import metric, replay, signed_post
from webhooks.app import create_app

ANN, BOB, STRANGER = "+14155550123", "+14155550124", "+14155550999"
LINE = "+14155550000"


def oncall_text() -> str:
    """ann and bob; bob is on call in `primary` all this week."""
    start = datetime.now(UTC).date() - timedelta(days=1)
    return f"""
contacts:
  ann: {{phone: "{ANN}"}}
  bob: {{phone: "{BOB}"}}
policies:
  p:
    steps:
      - {{targets: [primary], channels: [voice], wait: 5m}}
default_policy: p
schedules:
  primary:
    time_zone: UTC
    layers:
      - name: weekly
        rotation: {{members: [bob, ann], shift: 1w, handoff: "00:00", start: {start}}}
"""


@pytest.fixture
def line(database_url: str, broker_env: str, redis_client, tmp_path: Path) -> Iterator[ServedApp]:
    """The receiver over HTTP, with the on-call file above."""
    from worker import enqueue

    oncall = tmp_path / "oncall.yaml"
    oncall.write_text(oncall_text())
    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,
        DATA_DIR=str(tmp_path),
        API_TOKENS="token-one",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PLIVO_AUTH_TOKEN=SIMULATOR_AUTH_TOKEN,
        CONFIG_FILE=str(oncall),
    )
    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    yield served
    served.stop()


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    running = start_in_thread(SimulatorConfig())
    yield running
    running.stop()


def call(sim: RunningSimulator, line: ServedApp, caller: str, digits: list[str]) -> dict[str, Any]:
    """Call the line from `caller`, pressing `digits`; the ended call as the simulator saw it."""
    body = {"from": caller, "to": LINE, "url": f"{line.url}/plivo/voice/inbound", "digits": digits}
    answer = requests.post(f"{sim.url}/_sim/inbound_call", json=body, timeout=60)
    assert answer.status_code == 200, answer.text
    ended = answer.json()
    assert ended["errors"] == [] and ended["status"] == "completed", ended
    assert all(step["status"] == 200 for step in ended["xml"]), ended["xml"]
    return ended


def add_alert(url: str, summary: str, severity: str, service: str) -> int:
    with session_scope(url) as session:
        alert = Alert(
            summary=summary,
            severity=severity,
            source="test",
            labels={"service": service},
            status="triggered",
            escalation="active",
        )
        session.add(alert)
        session.flush()
        return alert.id


def test_a_known_caller_hears_the_open_alerts_and_acknowledges_the_most_severe(
    line, sim, database_url
):
    slow = add_alert(database_url, "queue slow", "warning", "jobs")
    disk = add_alert(database_url, "disk full on db1", "critical", "db")

    ended = call(sim, line, ANN, ["1", "1"])

    heard = " ".join(ended["spoken"])
    assert ended["spoken"][0] == (
        "2 open alerts, 2 not acknowledged. The most severe: Critical alert on db. "
        f"disk full on db1. Alert {say_digits(disk)}."
    )
    assert ended["spoken"][1] == MENU
    assert ended["spoken"][2].startswith("Critical alert on db. disk full on db1.")
    # Acknowledged, then the next alert, asked twice without a key, then goodbye.
    assert ended["spoken"][4].startswith("Acknowledged. Warning alert on jobs. queue slow.")
    assert f"Alert {say_digits(slow)}." in ended["spoken"][4]
    assert ended["spoken"][-1] == NO_INPUT
    assert heard.count("queue slow") == 2
    assert ended["digits"] == ["1", "1"] and ended["dialled"] == []
    with session_scope(database_url) as session:
        acked = session.get(Alert, disk)
        assert (acked.status, acked.acknowledged_by, acked.acknowledged_via) == (
            "acknowledged",
            "ann",
            "phone_line",
        )
        assert session.get(Alert, slow).status == "triggered"
        [event] = session.scalars(
            select(Event).where(Event.kind == "alert.acknowledged", Event.alert_id == disk)
        ).all()
        assert event.detail == {"by": "ann", "via": "phone_line"}


def test_no_key_hears_the_menu_once_more_then_goodbye(line, sim):
    ended = call(sim, line, ANN, [])
    assert ended["spoken"] == ["No open alerts.", MENU, MENU, NO_INPUT]
    assert ended["events"][-2]["event"] == "hangup_verb"


def test_pressing_2_names_who_is_on_call_with_an_override_in_force(line, sim, database_url):
    ended = call(sim, line, ANN, ["2"])
    assert "On call for primary: bob." in ended["spoken"]
    now = datetime.now(UTC)
    covering = Override("primary", "ann", now - timedelta(minutes=1), now + timedelta(hours=1))
    with session_scope(database_url) as session:
        create_override(session, covering, now, "test")
    assert "On call for primary: ann." in call(sim, line, BOB, ["2"])["spoken"]


def test_pressing_3_puts_the_caller_through_to_the_person_on_call(line, sim, database_url):
    ended = call(sim, line, ANN, ["3"])
    assert ended["dialled"] == [BOB.lstrip("+")]
    assert "Connecting you to bob." in ended["spoken"]
    with session_scope(database_url) as session:
        [event] = session.scalars(select(Event).where(Event.kind == "phone_line.connect")).all()
        assert event.detail == {"caller": "ann", "to": "bob"}
    # The person on call calling in is not put through to themselves.
    alone = call(sim, line, BOB, ["3"])
    assert alone["dialled"] == [] and "You are the only one on call now." in alone["spoken"]


def test_an_unknown_caller_hears_one_sentence_and_is_counted(line, sim, database_url, caplog):
    add_alert(database_url, "disk full on db1", "critical", "db")
    before = metric(line, "alert_dispatch_phone_line_calls_total", caller="unknown")
    with caplog.at_level(logging.INFO):
        ended = call(sim, line, STRANGER, ["1", "1"])
    assert ended["spoken"] == [REFUSED]
    assert ended["digits"] == [] and len(ended["xml"]) == 1
    assert "GetInput" not in ended["xml"][0]["xml"]
    after = metric(line, "alert_dispatch_phone_line_calls_total", caller="unknown")
    assert after == before + 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused" in logged
    assert STRANGER.lstrip("+") not in logged and STRANGER[-6:] not in logged
    with session_scope(database_url) as session:
        assert session.scalars(select(Alert.status)).all() == ["triggered"]


def inbound_params(caller: str, **extra: str) -> dict[str, str]:
    return {
        "CallUUID": str(uuid.uuid4()),
        "From": caller.lstrip("+"),
        "To": LINE.lstrip("+"),
        "Direction": "inbound",
        "CallStatus": "in-progress",
        **extra,
    }


def test_unsigned_and_replayed_requests_are_refused(line, database_url):
    disk = add_alert(database_url, "disk full on db1", "critical", "db")
    answered, sent = signed_post(line, "/plivo/voice/inbound", inbound_params(ANN))
    assert answered.status_code == 200 and "GetInput" in answered.text
    assert replay(sent).status_code == 403
    unsigned = requests.post(
        f"{line.url}/plivo/voice/inbound", data=inbound_params(ANN), timeout=10
    )
    assert unsigned.status_code == 403 and "disk" not in unsigned.text
    keypress = inbound_params(ANN, Digits="1")
    path = f"/plivo/voice/inbound/alert?a={disk}"
    assert requests.post(f"{line.url}{path}", data=keypress, timeout=10).status_code == 403
    acked, sent = signed_post(line, path, keypress)
    assert acked.status_code == 200 and "Acknowledged." in acked.text
    assert replay(sent).status_code == 403
    with session_scope(database_url) as session:
        assert session.get(Alert, disk).status == "acknowledged"
