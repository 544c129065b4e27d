"""Whole escalation chains through real processes: worker, beat, receiver, simulator.

Each test drives one story an on-call team lives through and counts at the
simulator what really left: calls placed, texts sent.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig
from shared.db import session_scope
from shared.models import Alert, Notification
from tests.polling import wait_for

CONFIG = """
contacts:
  primary: {phone: "+14155550131", channels: [voice]}
  backup:  {phone: "+14155550132", channels: [voice]}
  lead:    {phone: "+14155550133", channels: [voice, sms]}
  texter:  {phone: "+14155550134", channels: [sms]}
  first:   {phone: "+14155550135", channels: [sms]}
  second:  {phone: "+14155550136", channels: [sms]}
  racer:   {phone: "+14155550137", channels: [sms]}
policies:
  calls:
    steps:
      - {targets: [primary], channels: [voice], wait: 60}
      - {targets: [backup], channels: [voice], wait: 60}
      - {targets: [lead], channels: [voice], wait: 60}
  texts:
    steps:
      - {targets: [texter], channels: [sms], wait: 3}
      - {targets: [lead], channels: [sms], wait: 60}
  slow:
    steps:
      - {targets: [first], channels: [sms], wait: 4}
      - {targets: [second], channels: [sms], wait: 60}
  race:
    steps:
      - {targets: [racer], channels: [sms], wait: 60}
routes:
  - {match: {labels: {flow: calls}}, policy: calls}
  - {match: {labels: {flow: slow}}, policy: slow}
  - {match: {labels: {flow: race}}, policy: race}
default_policy: texts
"""

SCENARIOS = {
    "+14155550131": {"voice": "no-answer"},
    "+14155550132": {"voice": "answer:1"},
    "+14155550133": {"voice": "answer:1"},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, broker_env):
    data_dir: Path = tmp_path_factory.mktemp("flows")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(CONFIG)
    config = StackConfig(
        data_dir=data_dir,
        redis_url=broker_env,
        with_beat=True,
        extra_env={"CONFIG_FILE": str(config_file), "PERSON_SMS_PER_15M": "50",
                   "BUNDLE_WINDOW_S": "0.5",
                   "PERSON_SMS_PER_HOUR": "100"},
    )
    with Stack(config) as running:
        running.wait_for_workers()
        for number, scenario in SCENARIOS.items():
            requests.post(f"{running.simulator_url}/_sim/scenarios",
                          json={"number": number, **scenario}, timeout=5).raise_for_status()
        yield running


def auth(stack):
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def post_alert(stack, flow, **extra):
    body = {"summary": f"{flow} flow", "severity": "critical", "labels": {"flow": flow}, **extra}
    response = requests.post(f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack),
                             timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def alert_row(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return session.get(Alert, alert_id)


def notifications(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return list(session.scalars(
            select(Notification).where(Notification.alert_id == alert_id)
            .order_by(Notification.id)
        ))


def calls_to(stack, number):
    calls = requests.get(f"{stack.simulator_url}/_sim/calls", timeout=5).json()
    return [c for c in calls if c["to"].lstrip("+") == number.lstrip("+")]


def messages_to(stack, number):
    messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=5).json()
    return [m for m in messages if m["dst"].lstrip("+") == number.lstrip("+")]


def test_primary_misses_backup_presses_1_and_the_lead_is_never_called(stack):
    alert_id = post_alert(stack, "calls")
    acked = wait_for(lambda: (a := alert_row(stack, alert_id)).status == "acknowledged" and a)
    assert (acked.acknowledged_by, acked.acknowledged_via) == ("backup", "voice")
    time.sleep(2)  # anything that would still leave has had time to
    assert len(calls_to(stack, "+14155550131")) == 1
    assert len(calls_to(stack, "+14155550132")) == 1
    assert calls_to(stack, "+14155550133") == []
    by_contact = {n.contact: n for n in notifications(stack, alert_id)}
    assert by_contact["primary"].outcome == "not_reached"
    assert by_contact["backup"].outcome == "acknowledged"
    assert "lead" not in by_contact
    spoken = " ".join(calls_to(stack, "+14155550132")[0]["spoken"])
    assert f"Alert {' '.join(str(alert_id))}" in spoken


def test_sms_reply_acknowledges(stack):
    alert_id = post_alert(stack, "texts", dedup_key="reply-test")
    [message] = wait_for(lambda: messages_to(stack, "+14155550134"))
    code = re.search(r"Reply (\d+)A to acknowledge", message["text"]).group(1)
    answer = requests.post(f"{stack.simulator_url}/_sim/inbound_sms", json={
        "from": "+14155550134", "to": "+14155550000", "text": f" {code}a ",
        "url": f"{stack.web_url}/plivo/sms/inbound",
    }, timeout=10).json()
    assert answer["status"] == 200
    acked = wait_for(lambda: (a := alert_row(stack, alert_id)).status == "acknowledged" and a)
    assert acked.acknowledged_via == "sms"
    confirmation = wait_for(lambda: [m for m in messages_to(stack, "+14155550134")
                                     if "acknowledged" in m["text"]])
    assert f"#{alert_id}" in confirmation[0]["text"]
    time.sleep(4)  # past the 3 s wait: the lead must not be texted
    assert not [n for n in notifications(stack, alert_id) if n.step == 1]


def test_resolve_stops_a_chain_mid_wait(stack):
    alert_id = post_alert(stack, "texts", dedup_key="resolve-test")
    wait_for(lambda: any(n.state == "delivered" for n in notifications(stack, alert_id)))
    response = requests.post(f"{stack.web_url}/api/v1/alerts/{alert_id}/resolve",
                             json={"by": "ops"}, headers=auth(stack), timeout=5)
    assert response.json()["status"] == "resolved"
    time.sleep(4.5)  # the 3 s wait has run out
    assert [n.step for n in notifications(stack, alert_id)] == [0]
    assert alert_row(stack, alert_id).escalation == "stopped"


def test_worker_killed_mid_wait_chain_completes_without_any_step_twice(stack):
    alert_id = post_alert(stack, "slow")
    wait_for(lambda: messages_to(stack, "+14155550135"))
    stack.kill("worker1", signal.SIGKILL)
    time.sleep(6)  # step 1 fell due at 4 s, with no worker to fire it
    assert messages_to(stack, "+14155550136") == []
    stack.start_worker("worker1")
    wait_for(lambda: messages_to(stack, "+14155550136"), timeout=40)
    time.sleep(2)
    steps = [n.step for n in notifications(stack, alert_id)]
    assert steps == [0, 1]
    assert len(messages_to(stack, "+14155550135")) == 1
    assert len(messages_to(stack, "+14155550136")) == 1


def test_ack_racing_queued_sends_lets_none_through(stack):
    recipients = [f"+1415555{n:04d}" for n in range(160, 185)]
    body = {"summary": "storm", "severity": "critical", "recipients": recipients}
    alert_id = requests.post(f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack),
                             timeout=10).json()["id"]
    # Sends are paced at 5 per second: most are still queued when the ack lands.
    wait_for(lambda: any(n.state != "pending" for n in notifications(stack, alert_id)))
    ack = requests.post(f"{stack.web_url}/api/v1/alerts/{alert_id}/ack", headers=auth(stack),
                        timeout=5).json()
    assert ack["changed"] and ack["cancelled_notifications"] > 0
    time.sleep(6)  # every queued send has come due and been dropped
    rows = notifications(stack, alert_id)
    sent = [n for n in rows if n.state != "cancelled"]
    cancelled = [n for n in rows if n.state == "cancelled"]
    assert len(cancelled) == ack["cancelled_notifications"]
    texted = [r for r in recipients if messages_to(stack, r)]
    assert sorted(texted) == sorted(n.destination for n in sent)
    assert len(texted) < len(recipients)
