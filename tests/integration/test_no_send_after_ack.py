"""An acknowledgement that lands while a claimed send waits for its spacing stops it.

A send is claimed (state `sending`) before its last spacing wait, and an
acknowledgement cancels only pending rows. The send therefore checks once
more, after every wait and right before the request, that its alert is still
triggered. Real processes: receiver, worker, simulator, their own Redis.

To open a wide, reliable window, the test takes the account's "sent" pace in
the shared limiter as another worker's request would, far ahead: the claimed
send then sleeps its full bounded spacing wait (one second), and the test
acknowledges through the API while it sleeps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import select

from cli.stack import SIMULATOR_AUTH_ID, Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Notification
from shared.sending.rate_limiter import Limit, RateLimiter
from tests.polling import wait_for

CONFIG = """
contacts:
  texter: {phone: "+14155550161", channels: [sms]}
  caller: {phone: "+14155550162", channels: [voice]}
policies:
  texts:
    steps:
      - {targets: [texter], channels: [sms], wait: 60}
  calls:
    steps:
      - {targets: [caller], channels: [voice], wait: 60}
routes:
  - {match: {labels: {flow: calls}}, policy: calls}
default_policy: texts
"""

# Far longer than the one-second cap on the spacing sleep, and than the time
# from posting the alert to the claim, so the worker always sleeps the full cap.
TAKEN_FOR_S = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """A stack with its own Redis, so the pace taken here slows no other test."""
    data_dir: Path = tmp_path_factory.mktemp("no-send-after-ack")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(CONFIG)
    config = StackConfig(
        data_dir=data_dir,
        extra_env={"CONFIG_FILE": str(config_file), "BUNDLE_WINDOW_S": "0"},
    )
    with Stack(config) as running:
        running.wait_for_workers()
        yield running


def auth(stack):
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def take_sent_pace(stack, limit_name: str) -> None:
    """Book the account's sent-pace `limit_name` TAKEN_FOR_S ahead, as a busy account would."""
    client = redis.Redis.from_url(stack.redis_url)
    limiter = RateLimiter(client)
    limiter.reserve([(f"account:{SIMULATOR_AUTH_ID}", Limit(limit_name, 1, TAKEN_FOR_S, 1))])


def post_alert(stack, flow):
    body = {
        "summary": f"{flow}: ack while the send waits",
        "severity": "critical",
        "labels": {"flow": flow},
    }
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack), timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def notification_of(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return session.scalars(
            select(Notification).where(Notification.alert_id == alert_id)
        ).first()


def view(stack, alert_id):
    return requests.get(
        f"{stack.web_url}/api/v1/alerts/{alert_id}", headers=auth(stack), timeout=5
    ).json()


def sim(stack, what, number):
    seen = requests.get(f"{stack.simulator_url}/_sim/{what}", timeout=5).json()
    digits = number.lstrip("+")
    return [r for r in seen if digits in str(r.get("dst") or r.get("to") or "")]


def ack_during_the_wait_then_check(stack, flow, limit_name, number, what):
    take_sent_pace(stack, limit_name)
    alert_id = post_alert(stack, flow)
    claimed = wait_for(
        lambda: (n := notification_of(stack, alert_id)) is not None and n.state == "sending" and n,
        timeout=20,
        interval=0.02,
        what="the send claimed",
    )
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts/{alert_id}/ack",
        json={"by": "ops"},
        headers=auth(stack),
        timeout=5,
    )
    assert response.status_code == 200, response.text

    final = wait_for(
        lambda: (n := notification_of(stack, alert_id)).state != "sending" and n,
        timeout=20,
        what="the claimed send settled",
    )
    assert sim(stack, what, number) == []
    assert final.state == "cancelled"
    reasons = [
        e["detail"].get("reason", "")
        for e in view(stack, alert_id)["timeline"]
        if e["kind"] == "notification.cancelled" and e["notification_id"] == claimed.id
    ]
    assert reasons and "acknowledged" in reasons[0], reasons


def test_sms_claimed_before_an_ack_is_not_sent(stack):
    ack_during_the_wait_then_check(stack, "texts", "account-sms-sent", "+14155550161", "messages")


def test_call_claimed_before_an_ack_is_not_placed(stack):
    ack_during_the_wait_then_check(stack, "calls", "account-calls-sent", "+14155550162", "calls")
