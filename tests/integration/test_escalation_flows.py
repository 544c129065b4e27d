"""Whole escalation chains through real processes: worker, beat, receiver, simulator.

Each test drives one story an on-call team lives through and counts at the
simulator what really left: calls placed, texts sent.
"""

from __future__ import annotations

import re
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Alert, Event, Notification
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
  machine: {phone: "+14155550138", channels: [voice]}
  presser: {phone: "+14155550139", channels: [voice]}
  after:   {phone: "+14155550140", channels: [sms]}
  stopper: {phone: "+14155550144", channels: [sms]}
  timed1:  {phone: "+14155550145", channels: [sms]}
  timed2:  {phone: "+14155550146", channels: [sms]}
  lonely:  {phone: "+14155550147", channels: [sms]}
  curious: {phone: "+14155550148", channels: [sms]}  # on the rota, never paged here
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
  machine:
    steps:
      - {targets: [machine], channels: [voice], wait: 60}
      - {targets: [after], channels: [sms], wait: 60}
  press2:
    steps:
      - {targets: [presser], channels: [voice], wait: 60}
      - {targets: [after], channels: [sms], wait: 60}
  optout:
    steps:
      - {targets: [stopper], channels: [sms], wait: 60}
      - {targets: [after], channels: [sms], wait: 60}
  timed:
    steps:
      - {targets: [timed1], channels: [sms], wait: 2}
      - {targets: [timed2], channels: [sms], wait: 60}
  exhaust:
    steps:
      - {targets: [lonely], channels: [sms], wait: 1}
    repeat: 1
routes:
  - {match: {labels: {flow: calls}}, policy: calls}
  - {match: {labels: {flow: slow}}, policy: slow}
  - {match: {labels: {flow: race}}, policy: race}
  - {match: {labels: {flow: machine}}, policy: machine}
  - {match: {labels: {flow: press2}}, policy: press2}
  - {match: {labels: {flow: optout}}, policy: optout}
  - {match: {labels: {flow: timed}}, policy: timed}
  - {match: {labels: {flow: exhaust}}, policy: exhaust}
default_policy: texts
"""

SCENARIOS = {
    "+14155550131": {"voice": "no-answer"},
    "+14155550132": {"voice": "answer:1"},
    "+14155550133": {"voice": "answer:1"},
    # Recognised 0.5 s after the answer, while the machine records the menu.
    "+14155550138": {"voice": "machine", "detection_delay_s": 0.5, "input_delay_s": 5},
    "+14155550139": {"voice": "answer:2"},
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    data_dir: Path = tmp_path_factory.mktemp("flows")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(CONFIG)
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
        for number, scenario in SCENARIOS.items():
            requests.post(
                f"{running.simulator_url}/_sim/scenarios",
                json={"number": number, **scenario},
                timeout=5,
            ).raise_for_status()
        yield running


def auth(stack):
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def post_alert(stack, flow, **extra):
    body = {"summary": f"{flow} flow", "severity": "critical", "labels": {"flow": flow}}
    body.update(extra)
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack), timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def alert_row(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return session.get(Alert, alert_id)


def notifications(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return list(
            session.scalars(
                select(Notification)
                .where(Notification.alert_id == alert_id)
                .order_by(Notification.id)
            )
        )


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
    answer = requests.post(
        f"{stack.simulator_url}/_sim/inbound_sms",
        json={
            "from": "+14155550134",
            "to": "+14155550000",
            "text": f" {code}a ",
            "url": f"{stack.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    ).json()
    assert answer["status"] == 200
    acked = wait_for(lambda: (a := alert_row(stack, alert_id)).status == "acknowledged" and a)
    assert acked.acknowledged_via == "sms"
    confirmation = wait_for(
        lambda: [m for m in messages_to(stack, "+14155550134") if "acknowledged" in m["text"]]
    )
    assert f"#{alert_id}" in confirmation[0]["text"]
    time.sleep(4)  # past the 3 s wait: the lead must not be texted
    assert not [n for n in notifications(stack, alert_id) if n.step == 1]


def test_resolve_stops_a_chain_mid_wait(stack):
    alert_id = post_alert(stack, "texts", dedup_key="resolve-test")
    wait_for(lambda: any(n.state == "delivered" for n in notifications(stack, alert_id)))
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts/{alert_id}/resolve",
        json={"by": "ops"},
        headers=auth(stack),
        timeout=5,
    )
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
    alert_id = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack), timeout=10
    ).json()["id"]
    # Sends are paced at 5 per second: most are still queued when the ack lands.
    wait_for(lambda: any(n.state != "pending" for n in notifications(stack, alert_id)))
    ack = requests.post(
        f"{stack.web_url}/api/v1/alerts/{alert_id}/ack", headers=auth(stack), timeout=5
    ).json()
    assert ack["changed"] and ack["cancelled_notifications"] > 0
    time.sleep(6)  # every queued send has come due and been dropped
    rows = notifications(stack, alert_id)
    sent = [n for n in rows if n.state != "cancelled"]
    cancelled = [n for n in rows if n.state == "cancelled"]
    # The ack cancels every send still queued; a send claimed just before it is
    # stopped by its last check before the request, and is cancelled too.
    assert len(cancelled) >= ack["cancelled_notifications"]
    texted = [r for r in recipients if messages_to(stack, r)]
    assert sorted(texted) == sorted(n.destination for n in sent)
    assert len(texted) < len(recipients)


def events(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return [
            (e.kind, e.at, e.detail)
            for e in session.scalars(
                select(Event).where(Event.alert_id == alert_id).order_by(Event.id)
            )
        ]


def test_a_step_fires_within_two_seconds_of_its_due_time(stack):
    alert_id = post_alert(stack, "timed")
    wait_for(lambda: messages_to(stack, "+14155550146"))
    fired = [(at, d) for kind, at, d in events(stack, alert_id) if kind == "escalation.step_fired"]
    due = datetime.fromisoformat(fired[0][1]["next_at"])
    lateness = (fired[1][0] - due).total_seconds()
    assert 0 <= lateness <= 2, lateness


def test_answering_machine_gets_a_voicemail_is_not_reached_and_the_chain_moves_on(stack):
    alert_id = post_alert(stack, "machine")
    wait_for(
        lambda: (
            messages_to(stack, "+14155550140")
            and [n for n in notifications(stack, alert_id) if n.step == 1]
        )
    )
    [call] = [n for n in notifications(stack, alert_id) if n.channel == "voice"]
    assert (call.outcome, call.error_code, call.state) == ("not_reached", "machine", "undelivered")
    [record] = calls_to(stack, "+14155550138")
    # The menu had begun when the machine was recognised: it was cut short for the voicemail.
    assert [x["kind"] for x in record["xml"]] == ["voice:answer", "voice:transfer"]
    voicemail = record["spoken"][-1]
    assert f"alert {' '.join(str(alert_id))}" in voicemail and "Press" not in voicemail
    code = re.search(r"text ([\d ]+) A to the number this call came from", voicemail)[1]
    # What the voicemail says to do works: the code texted back acknowledges the alert.
    answer = requests.post(
        f"{stack.simulator_url}/_sim/inbound_sms",
        json={
            "from": "+14155550138",
            "to": "+14155550000",
            "text": code.replace(" ", "") + "A",
            "url": f"{stack.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    ).json()
    assert answer["status"] == 200
    acked = wait_for(lambda: (a := alert_row(stack, alert_id)).status == "acknowledged" and a)
    assert acked.acknowledged_via == "sms"


def test_pressing_2_escalates_at_once(stack):
    alert_id = post_alert(stack, "press2")
    wait_for(lambda: [n for n in notifications(stack, alert_id) if n.step == 1])
    [call] = [n for n in notifications(stack, alert_id) if n.channel == "voice"]
    assert call.outcome == "escalated"
    assert alert_row(stack, alert_id).status == "triggered"
    hurried = [d for kind, _at, d in events(stack, alert_id) if kind == "escalation.hurried"]
    assert hurried and "pressed 2" in hurried[0]["reason"]


def test_stop_opts_a_number_out_loudly_and_the_chain_moves_on(stack):
    answer = requests.post(
        f"{stack.simulator_url}/_sim/inbound_sms",
        json={
            "from": "+14155550144",
            "to": "+14155550000",
            "text": "STOP",
            "url": f"{stack.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    ).json()
    assert answer["status"] == 200
    alert_id = post_alert(stack, "optout")
    wait_for(lambda: [n for n in notifications(stack, alert_id) if n.step == 1])
    stopped = [n for n in notifications(stack, alert_id) if n.destination == "+14155550144"]
    assert [n.state for n in stopped] == ["cancelled"]
    assert messages_to(stack, "+14155550144") == []
    metrics = requests.get(f"{stack.web_url}/metrics", timeout=5).text
    assert "alert_dispatch_opted_out_skips_total 1.0" in metrics
    requests.post(
        f"{stack.simulator_url}/_sim/inbound_sms",
        json={
            "from": "+14155550144",
            "to": "+14155550000",
            "text": "START",
            "url": f"{stack.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    )
    again = post_alert(stack, "optout", summary="after start")
    wait_for(lambda: messages_to(stack, "+14155550144"))
    assert again


def test_unknown_replies_get_at_most_three_help_texts_an_hour(stack):
    # From a contact on the rota: a number we neither page nor know gets no answer at all.
    for _ in range(5):
        requests.post(
            f"{stack.simulator_url}/_sim/inbound_sms",
            json={
                "from": "+14155550148",
                "to": "+14155550000",
                "text": "what is this?",
                "url": f"{stack.web_url}/plivo/sms/inbound",
            },
            timeout=10,
        )
    wait_for(lambda: len(messages_to(stack, "+14155550148")) >= 3)
    time.sleep(2)
    helps = [m for m in messages_to(stack, "+14155550148") if "acknowledge" in m["text"]]
    assert len(helps) == 3


def test_a_chain_that_runs_out_is_marked_exhausted_after_its_repeat(stack):
    alert_id = post_alert(stack, "exhaust")
    row = wait_for(
        lambda: (a := alert_row(stack, alert_id)).escalation == "exhausted" and a, timeout=20
    )
    assert row.status == "triggered"
    assert [(n.step, n.round) for n in notifications(stack, alert_id)] == [(0, 0), (0, 1)]
