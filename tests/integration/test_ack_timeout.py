"""Acknowledged is not forgotten, through real processes (receiver, worker, beat,
simulator): an acknowledgement left unresolved for the policy's `ack_timeout` pages
the chain again, the text saying why; a resolve cancels it; without `ack_timeout`
an acknowledgement is for good. Counted at the simulator: what really left."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Alert, Event
from tests.polling import wait_for

CONFIG = """
contacts:
  alice: {phone: "+14155550191", channels: [sms]}
  dave:  {phone: "+14155550192", channels: [sms]}
policies:
  timed:
    steps:
      - {targets: [alice], channels: [sms], wait: 10m}
    ack_timeout: 3s
  plain:
    steps:
      - {targets: [dave], channels: [sms], wait: 10m}
routes:
  - {match: {labels: {flow: plain}}, policy: plain}
default_policy: timed
"""
ALICE, DAVE = "+14155550191", "+14155550192"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    data_dir: Path = tmp_path_factory.mktemp("ack-timeout")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(CONFIG)
    config = StackConfig(
        data_dir=data_dir,
        redis_url=stack_broker,
        with_beat=True,
        extra_env={
            "CONFIG_FILE": str(config_file),
            "PERSON_SMS_PER_15M": "50",
            "PERSON_SMS_PER_HOUR": "100",
            "BUNDLE_WINDOW_S": "0.5",
        },
    )
    with Stack(config) as running:
        running.wait_for_workers()
        yield running


def auth(stack):
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def post_alert(stack, summary, **labels):
    body = {"summary": summary, "severity": "critical", "labels": labels}
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack), timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def act(stack, alert_id, action, by):
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts/{alert_id}/{action}",
        json={"by": by},
        headers=auth(stack),
        timeout=10,
    )
    assert response.json()["changed"], response.text


def pages_to(stack, number, alert_id):
    messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=5).json()
    return [
        m["text"]
        for m in messages
        if m["dst"].lstrip("+") == number.lstrip("+") and f"#{alert_id}," in m["text"]
    ]


def timed_out_events(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return session.scalars(
            select(Event.detail).where(
                Event.alert_id == alert_id, Event.kind == "alert.ack_timed_out"
            )
        ).all()


def status(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return session.get(Alert, alert_id).status


def test_an_unresolved_ack_pages_again_saying_so_and_a_resolve_ends_it(stack):
    alert_id = post_alert(stack, "disk full on db-1")
    wait_for(lambda: pages_to(stack, ALICE, alert_id), what="the first page")
    act(stack, alert_id, "ack", "alice")
    [_first, again] = wait_for(
        lambda: len(pages := pages_to(stack, ALICE, alert_id)) == 2 and pages,
        what="the page after the ack timed out",
    )
    assert again.startswith(
        "ACK TIMED OUT (acked just now by alice, not resolved): [CRITICAL] disk full on db-1"
    )
    assert status(stack, alert_id) == "triggered"
    [detail] = timed_out_events(stack, alert_id)
    assert (detail["acknowledged_by"], detail["ack_timeout_s"]) == ("alice", 3)
    metrics = requests.get(f"{stack.web_url}/metrics", timeout=5).text
    assert 'alert_dispatch_ack_timeouts_total{policy="timed"} 1.0' in metrics
    # Its reply code acknowledges it again (a new timeout); resolving then cancels that.
    code = re.search(r"Reply (\d+)A to acknowledge", again).group(1)
    requests.post(
        f"{stack.simulator_url}/_sim/inbound_sms",
        json={
            "from": ALICE,
            "to": "+14155550000",
            "text": f"{code}A",
            "url": f"{stack.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    ).raise_for_status()
    wait_for(lambda: status(stack, alert_id) == "acknowledged", what="acknowledged again")
    act(stack, alert_id, "resolve", "alice")
    time.sleep(5)  # past the second ack's 3 s: nothing may leave
    assert len(pages_to(stack, ALICE, alert_id)) == 2
    assert len(timed_out_events(stack, alert_id)) == 1
    assert status(stack, alert_id) == "resolved"


def test_without_ack_timeout_an_ack_is_for_good(stack):
    alert_id = post_alert(stack, "cache cold", flow="plain")
    wait_for(lambda: pages_to(stack, DAVE, alert_id), what="the first page")
    act(stack, alert_id, "ack", "dave")
    time.sleep(5)  # longer than the other policy's ack_timeout, several ticks
    assert len(pages_to(stack, DAVE, alert_id)) == 1
    assert status(stack, alert_id) == "acknowledged"
    assert timed_out_events(stack, alert_id) == []
