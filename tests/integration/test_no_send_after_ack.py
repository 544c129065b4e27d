"""An acknowledgement that lands while a claimed send waits for its spacing stops it.

A send is claimed (state `sending`) before its last spacing wait, and an
acknowledgement cancels only pending rows. The send therefore checks once
more, after every wait and right before the request, that its alert is still
triggered. Real processes: receiver, worker, simulator, their own Redis.

To open a wide, reliable window, the test fills the account's release log as
other workers' requests would, so that the claimed send's release lies just
under the one-second bound on its wait: it sleeps almost that second, and the
test acknowledges through the API while it sleeps. A release further away
than the bound is not waited for: the send is handed back, unsent, and goes
when its release comes, once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import select

from cli.stack import SIMULATOR_AUTH_ID, Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Notification
from shared.core.settings import Settings
from shared.sending.limits import SendLimits
from shared.sending.release_log import ReleaseLog
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

# The claimed send's release, this long after the test fills the log: just under
# the one-second bound on the wait, less the time from posting to the claim.
RELEASE_AFTER_S = 0.97


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


def fill_release_log(stack, limit_attr: str, release_after_s: float) -> None:
    """Book the account's releases as a busy account's requests would, so the next
    release lies `release_after_s` from now."""
    limit = getattr(SendLimits.from_settings(Settings(_env_file=None)), limit_attr)
    log = ReleaseLog(redis.Redis.from_url(stack.redis_url))
    taken_at = time.time() + release_after_s - limit.period_s
    for _ in range(limit.count):
        log.book([(f"account:{SIMULATOR_AUTH_ID}", limit)], now=taken_at)


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


def ack_during_the_wait_then_check(stack, flow, limit_attr, number, what):
    fill_release_log(stack, limit_attr, RELEASE_AFTER_S)
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
    ack_during_the_wait_then_check(stack, "texts", "account_sms_sent", "+14155550161", "messages")


def test_call_claimed_before_an_ack_is_not_placed(stack):
    ack_during_the_wait_then_check(stack, "calls", "account_calls_sent", "+14155550162", "calls")


def test_a_send_whose_release_lies_beyond_the_wait_is_handed_back_and_sent_once(stack):
    """Not sent early, not held past the time the tick would take it for stuck: the
    claim is undone, the attempt not counted, and the page goes when its release comes."""
    release_at = time.time() + 3.0
    fill_release_log(stack, "account_sms_sent", 3.0)
    alert_id = post_alert(stack, "texts")
    sent = wait_for(
        lambda: sim(stack, "messages", "+14155550161"), timeout=30, what="the page sent"
    )
    assert len(sent) == 1
    assert sent[0]["created"] >= release_at - 0.05, "sent before its release"
    timeline = view(stack, alert_id)["timeline"]
    handed_back = [e for e in timeline if "handed back" in str(e["detail"].get("reason", ""))]
    assert handed_back, [e["kind"] for e in timeline]
    assert notification_of(stack, alert_id).send_attempts == 1
    time.sleep(1.0)
    assert len(sim(stack, "messages", "+14155550161")) == 1
