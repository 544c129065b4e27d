"""A call still ringing when its alert is acknowledged elsewhere falls silent at once.

Real processes: receiver, worker, beat, simulator, Redis. The alert is
acknowledged through the API, which enqueues `notify.hang_up_calls` once the
acknowledgement is committed (as every path that closes an alert does); the
simulator shows what reached Plivo's Live Call API and when, and the receiver
gets the hangup callback Plivo posts afterwards.
"""

from __future__ import annotations

import re
import statistics
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from cli.stack import SIMULATOR_AUTH_ID, Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Alert, Event, Notification
from tests.polling import wait_for

RINGER = "+14155550191"  # never picks up: rings for a minute
LISTENER = "+14155550192"  # picks up and listens to the prompt for half a minute
NEXT = "+14155550193"  # the next step, which must never be paged

CONFIG = f"""
contacts:
  ringer:   {{phone: "{RINGER}", channels: [voice]}}
  listener: {{phone: "{LISTENER}", channels: [voice]}}
  next:     {{phone: "{NEXT}", channels: [sms]}}
policies:
  ring:
    steps:
      - {{targets: [ringer], channels: [voice], wait: 60}}
      - {{targets: [next], channels: [sms], wait: 60}}
  listen:
    steps:
      - {{targets: [listener], channels: [voice], wait: 60}}
      - {{targets: [next], channels: [sms], wait: 60}}
routes:
  - {{match: {{labels: {{flow: listen}}}}, policy: listen}}
default_policy: ring
"""

SCENARIOS = {
    RINGER: {"voice": "no-answer", "answer_delay_s": 60},
    LISTENER: {"voice": "answer:1", "answer_delay_s": 0.1, "input_delay_s": 30},
}
ACK_TO_SILENCE_S = 1.0  # the goal, at the median of ten calls
ONE_CALL_BOUND_S = 3.0  # any single call, with room for a loaded machine


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    data_dir: Path = tmp_path_factory.mktemp("hang-up-calls")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(CONFIG)
    config = StackConfig(
        data_dir=data_dir,
        redis_url=stack_broker,
        with_beat=True,
        extra_env={
            "CONFIG_FILE": str(config_file),
            "BUNDLE_WINDOW_S": "0",
            "PERSON_CALLS_PER_15M": "100",
        },
    )
    with Stack(config) as running:
        running.wait_for_workers()
        # Connect this process's producer once, as the receiver's long-lived one
        # is: the timings below measure a hang-up, not a first broker connection.
        from worker import enqueue

        assert enqueue.hang_up_calls(0)
        for number, scenario in SCENARIOS.items():
            requests.post(
                f"{running.simulator_url}/_sim/scenarios",
                json={"number": number, **scenario},
                timeout=5,
            ).raise_for_status()
        yield running


def auth(stack):
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def post_alert(stack, flow, summary):
    body = {"summary": summary, "severity": "critical", "labels": {"flow": flow}}
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack), timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def acknowledge(stack, alert_id):
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts/{alert_id}/ack",
        json={"by": "ops"},
        headers=auth(stack),
        timeout=5,
    )
    assert response.json()["changed"], response.text


def call_of(stack, alert_id) -> Notification | None:
    with session_scope(stack.database_url) as session:
        return session.scalars(
            select(Notification).where(
                Notification.alert_id == alert_id, Notification.channel == "voice"
            )
        ).first()


def sim_calls(stack, number):
    calls = requests.get(f"{stack.simulator_url}/_sim/calls", timeout=5).json()
    return [c for c in calls if c["to"] == number.lstrip("+")]


def sim_call(stack, request_uuid):
    calls = requests.get(f"{stack.simulator_url}/_sim/calls", timeout=5).json()
    return next((c for c in calls if c["request_uuid"] == request_uuid), None)


def deletes_of(stack, uuid):
    seen = requests.get(f"{stack.simulator_url}/_sim/requests", timeout=5).json()
    return [r for r in seen if r["method"] == "DELETE" and f"/{uuid}/" in r["path"]]


def ringing_call(stack, alert_id) -> Notification:
    """The alert's call once Plivo accepted it (its request uuid stored) and it rings."""

    def ringing():
        call = call_of(stack, alert_id)
        if call is None or call.state != "queued" or not call.provider_uuid:
            return None
        placed = sim_call(stack, call.provider_uuid)
        return call if placed and placed["status"] == "ringing" else None

    return wait_for(ringing, interval=0.05, what="the call ringing")


def events_of(stack, alert_id, kind):
    with session_scope(stack.database_url) as session:
        return list(
            session.scalars(
                select(Event.detail).where(Event.alert_id == alert_id, Event.kind == kind)
            )
        )


def start_run(alert_id) -> str:
    """Publish the task as `enqueue.hang_up_calls` does, keeping its id to follow it."""
    from worker import enqueue, task_names
    from worker.celery_app import app

    result = app.send_task(
        task_names.HANG_UP_CALLS, args=[alert_id], priority=enqueue.HIGHEST_PRIORITY
    )
    return result.id


def run_result(stack, task_id) -> str | None:
    """What the run returned, from the worker's log; None until it finished."""
    text = (stack.logs_dir / "worker1.log").read_text(errors="replace")
    found = re.search(rf"notify\.hang_up_calls\[{task_id}\] succeeded in \S+ '([^']*)'", text)
    return found.group(1) if found else None


def ack_and_hang_up(stack, alert_id, uuid):
    """Acknowledge through the API; the seconds from the request to Plivo's DELETE."""
    started = time.time()
    acknowledge(stack, alert_id)
    [delete] = wait_for(lambda: deletes_of(stack, uuid), interval=0.02, what="the DELETE")
    assert delete["status"] == 204 and delete["auth_ok"]
    return delete["time"] - started


def test_a_ringing_call_is_cancelled_within_a_second_and_the_chain_stops(stack):
    alert_id = post_alert(stack, "ring", "ringing while acknowledged")
    call = ringing_call(stack, alert_id)
    took = ack_and_hang_up(stack, alert_id, call.provider_uuid)
    assert took <= ONE_CALL_BOUND_S, took
    [delete] = deletes_of(stack, call.provider_uuid)
    assert delete["path"] == f"/v1/Account/{SIMULATOR_AUTH_ID}/Request/{call.provider_uuid}/"
    placed = sim_call(stack, call.provider_uuid)
    assert (placed["status"], placed["answer_time"]) == ("cancel", None)
    # Plivo's hangup callback ends the notification, and nothing pages after it.
    ended = wait_for(
        lambda: (n := call_of(stack, alert_id)).state == "undelivered" and n, what="call ended"
    )
    assert (ended.error_code, ended.outcome) == ("cancel", "not_reached")
    # The hang-up task records its event once Plivo answered the DELETE, which may be
    # after Plivo's hangup callback has already ended the notification.
    [hung_up] = wait_for(lambda: events_of(stack, alert_id, "call.hung_up"), what="hang-up event")
    assert hung_up["method"] == "cancel_request" and hung_up["uuid"] == call.provider_uuid
    assert hung_up["to"] != RINGER and hung_up["to"].endswith(RINGER[-2:])
    time.sleep(2)
    assert len(sim_calls(stack, RINGER)) >= 1
    assert [c for c in sim_calls(stack, RINGER) if c["request_uuid"] == call.provider_uuid]
    with session_scope(stack.database_url) as session:
        rows = session.scalars(select(Notification).where(Notification.alert_id == alert_id)).all()
        alert = session.get(Alert, alert_id)
        assert [(n.channel, n.step) for n in rows] == [("voice", 0)]
        assert (alert.status, alert.escalation) == ("acknowledged", "stopped")
    texts = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=5).json()
    assert [m for m in texts if m["dst"] == NEXT.lstrip("+")] == []


def test_an_answered_call_is_hung_up_mid_prompt(stack):
    alert_id = post_alert(stack, "listen", "answered while acknowledged")
    answered = wait_for(
        lambda: events_of(stack, alert_id, "call.answered"), what="the call answered"
    )
    call_uuid = answered[0]["CallUUID"]
    call = call_of(stack, alert_id)
    wait_for(lambda: sim_call(stack, call.provider_uuid)["spoken"], what="the prompt spoken")
    took = ack_and_hang_up(stack, alert_id, call_uuid)
    assert took <= ONE_CALL_BOUND_S, took
    [delete] = deletes_of(stack, call_uuid)
    assert delete["path"] == f"/v1/Account/{SIMULATOR_AUTH_ID}/Call/{call_uuid}/"
    ended = wait_for(
        lambda: (n := call_of(stack, alert_id)).state == "undelivered" and n, what="call ended"
    )
    assert ended.error_code == "no_keypress"
    placed = sim_call(stack, call.provider_uuid)
    assert (placed["status"], placed["hangup_cause"], placed["digits"]) == (
        "completed",
        "NORMAL_CLEARING",
        [],
    )
    [hung_up] = wait_for(lambda: events_of(stack, alert_id, "call.hung_up"), what="hang-up event")
    assert hung_up["method"] == "hang_up"
    with session_scope(stack.database_url) as session:
        assert session.get(Alert, alert_id).acknowledged_by == "ops"


def test_running_the_task_again_sends_no_second_delete(stack):
    alert_id = post_alert(stack, "ring", "hung up once only")
    call = ringing_call(stack, alert_id)
    acknowledge(stack, alert_id)  # enqueues one run itself
    # Two more at once (an ack and a resolve racing), then one after the call is over.
    runs = [start_run(alert_id), start_run(alert_id)]
    wait_for(lambda: call_of(stack, alert_id).state == "undelivered", what="call ended")
    runs.append(start_run(alert_id))
    results = [wait_for(lambda t=t: run_result(stack, t), what="the run") for t in runs]
    # The acknowledgement's own run or one of these hung up; no other did.
    assert results.count("hung up 1 of 1") <= 1, results
    time.sleep(1)  # any look again the runs asked for has come and gone
    assert len(deletes_of(stack, call.provider_uuid)) == 1
    assert len(events_of(stack, alert_id, "call.hung_up")) == 1


def test_the_task_leaves_calls_of_an_open_alert_ringing(stack):
    alert_id = post_alert(stack, "ring", "still open")
    call = ringing_call(stack, alert_id)
    task_id = start_run(alert_id)
    assert wait_for(lambda: run_result(stack, task_id), what="the run") == "alert-open"
    assert deletes_of(stack, call.provider_uuid) == []
    assert sim_call(stack, call.provider_uuid)["status"] == "ringing"
    took = ack_and_hang_up(stack, alert_id, call.provider_uuid)
    assert took <= ONE_CALL_BOUND_S


def test_ack_to_silence_over_ten_calls(stack, capsys):
    took = []
    for run in range(10):
        alert_id = post_alert(stack, "ring", f"timed run {run}")
        call = ringing_call(stack, alert_id)
        took.append(ack_and_hang_up(stack, alert_id, call.provider_uuid))
        wait_for(lambda a=alert_id: call_of(stack, a).state == "undelivered", what="call ended")
    p50, worst = statistics.median(took), max(took)
    with capsys.disabled():
        print(f"\nack to silence, {len(took)} calls: p50 {p50:.3f} s, max {worst:.3f} s")
    assert p50 <= ACK_TO_SILENCE_S
