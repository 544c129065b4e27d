"""An alert storm: 200 alerts for one team reach each person as a handful of texts.

The bundle window is 10 s: the storm is posted within seconds, so each
person gets the first alert at once and the rest in one or two bundles.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Alert, Notification

TEAM = {"ana": "+14155550141", "ben": "+14155550142", "cai": "+14155550143"}
CONFIG = """
contacts:
  ana: {phone: "+14155550141", channels: [sms]}
  ben: {phone: "+14155550142", channels: [sms]}
  cai: {phone: "+14155550143", channels: [sms]}
teams:
  storage: {members: [ana, ben, cai]}
policies:
  storage:
    steps:
      - {targets: [storage], channels: [sms], wait: 10m}
default_policy: storage
"""
ALERTS = 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    data_dir = tmp_path_factory.mktemp("storm")
    (data_dir / "oncall.yaml").write_text(CONFIG)
    config = StackConfig(
        data_dir=data_dir,
        redis_url=stack_broker,
        with_beat=True,
        extra_env={"CONFIG_FILE": str(data_dir / "oncall.yaml"), "BUNDLE_WINDOW_S": "10"},
    )
    with Stack(config) as running:
        running.wait_for_workers()
        yield running


def messages_to(stack, number):
    messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=10).json()
    return [m for m in messages if m["dst"].lstrip("+") == number.lstrip("+")]


def pending_count(stack):
    with session_scope(stack.database_url) as session:
        return session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.state.in_(("pending", "sending")))
        )


def planned_count(stack):
    with session_scope(stack.database_url) as session:
        return session.scalar(select(func.count()).select_from(Notification))


def test_storm_is_bundled_and_a_bundle_reply_acknowledges_its_alerts(stack):
    headers = {"Authorization": f"Bearer {stack.config.api_token}"}

    def post(i: int) -> int:
        body = {
            "summary": f"volume {i} degraded",
            "severity": "warning" if i % 5 else "critical",
            "dedup_key": f"storm-{i}",
            "source": "storm",
        }
        response = requests.post(
            f"{stack.web_url}/api/v1/alerts", json=body, headers=headers, timeout=30
        )
        assert response.status_code == 202
        return response.json()["id"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        alert_ids = list(pool.map(post, range(ALERTS)))
    assert len(set(alert_ids)) == ALERTS

    deadline = time.monotonic() + 90
    # Done when every alert was routed to every person (on a loaded machine
    # routing may still be catching up after the last page left) and nothing
    # is left to send.
    while time.monotonic() < deadline and (
        planned_count(stack) < ALERTS * len(TEAM)
        or pending_count(stack)
        or any(not messages_to(stack, n) for n in TEAM.values())
    ):
        time.sleep(0.5)
    assert pending_count(stack) == 0

    with session_scope(stack.database_url) as session:
        states = Counter(session.scalars(select(Notification.state)))
    assert sum(states.values()) == ALERTS * len(TEAM)  # every alert for every person...
    assert set(states) <= {"queued", "sent", "delivered"}  # ...went out, none dropped

    for name, number in TEAM.items():
        texts = [m["text"] for m in messages_to(stack, number)]
        # At most 5 in 15 minutes per person (the default throttle), whatever the storm.
        assert 1 <= len(texts) <= 5, f"{name} got {len(texts)} texts"
        covered = sum(
            int(m.group(1)) if (m := re.match(r"(\d+) alerts firing", t)) else 1 for t in texts
        )
        assert covered == ALERTS, f"{name}'s texts cover {covered} alerts"

    # Ana answers the last bundle she got with its code: all of its alerts are acknowledged.
    last = messages_to(stack, TEAM["ana"])[-1]["text"]
    code = re.search(r"Reply (\d+)A to acknowledge", last).group(1)
    size = int(m.group(1)) if (m := re.match(r"(\d+) alerts firing", last)) else 1
    requests.post(
        f"{stack.simulator_url}/_sim/inbound_sms",
        json={
            "from": TEAM["ana"],
            "to": "+14155550000",
            "text": f"{code}A",
            "url": f"{stack.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    ).raise_for_status()
    with session_scope(stack.database_url) as session:
        acked = session.scalar(
            select(func.count()).select_from(Alert).where(Alert.acknowledged_via == "sms")
        )
    assert acked == size
