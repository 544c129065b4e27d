"""An alert resolved while its page was held in the bundle window is named in the
person's next text ("Resolved before you were paged: ..."), once, and never
causes a text of its own.

Real processes: receiver, worker, beat, the Plivo simulator and their own Redis.
The bundle window is 12 s: the test posts and resolves within it, far sooner.
One worker process: held sends the tick hands over together are then taken in
turn, and the first claims the others into its bundle. (Run at the same moment
by two processes, the one that loses the race for the window waits a whole new
window: a matter of the bundle window itself, not of what a text says.)
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Notification
from tests.polling import wait_for

HELD = "+14155550181"  # paged, then more alerts wait in their bundle window
ALONE = "+14155550182"  # the one held alert is resolved: nothing else waits
CONFIG = """
contacts:
  held: {phone: "+14155550181", channels: [sms]}
  alone: {phone: "+14155550182", channels: [sms]}
policies:
  held:
    steps:
      - {targets: [held], channels: [sms], wait: 10m}
  alone:
    steps:
      - {targets: [alone], channels: [sms], wait: 10m}
routes:
  - {match: {labels: {person: alone}}, policy: alone}
default_policy: held
"""
LINE = "Resolved before you were paged: "


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    data_dir: Path = tmp_path_factory.mktemp("resolved-while-held")
    (data_dir / "oncall.yaml").write_text(CONFIG)
    config = StackConfig(
        data_dir=data_dir,
        with_beat=True,
        worker_concurrency=1,
        extra_env={"CONFIG_FILE": str(data_dir / "oncall.yaml"), "BUNDLE_WINDOW_S": "12"},
    )
    with Stack(config) as running:
        running.wait_for_workers()
        yield running


def _auth(stack):
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def post_alert(stack, summary, person="held"):
    body = {"summary": summary, "severity": "warning", "labels": {"person": person}}
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=_auth(stack), timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def resolve(stack, alert_id):
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts/{alert_id}/resolve",
        json={"by": "ops"},
        headers=_auth(stack),
        timeout=10,
    )
    assert response.status_code == 200, response.text


def texts_to(stack, number):
    messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=10).json()
    return [m["text"] for m in messages if m["dst"].lstrip("+") == number.lstrip("+")]


def texts_after(stack, number, count, what):
    return wait_for(
        lambda: (texts := texts_to(stack, number)) and len(texts) >= count and texts,
        timeout=90,
        what=what,
    )


def notification_of(stack, alert_id):
    with session_scope(stack.database_url) as session:
        return session.scalars(
            select(Notification).where(Notification.alert_id == alert_id)
        ).first()


def held_then_resolved(stack, alert_id):
    """Wait until the alert's text is planned and waiting, then resolve it."""
    wait_for(
        lambda: (n := notification_of(stack, alert_id)) is not None and n.state == "pending",
        timeout=10,
        interval=0.05,
        what=f"the text for alert {alert_id} held",
    )
    resolve(stack, alert_id)
    row = notification_of(stack, alert_id)
    assert (row.state, row.provider_uuid) == ("cancelled", None)


def test_the_bundle_names_the_open_alerts_and_the_one_resolved_while_held(stack):
    first = post_alert(stack, "api latency high")
    [page] = texts_after(stack, HELD, 1, "the first page")
    assert f"#{first}" in page and LINE not in page

    gone, open_a, open_b = (post_alert(stack, s) for s in ("disk full", "queue deep", "cpu hot"))
    held_then_resolved(stack, gone)

    bundle = texts_after(stack, HELD, 2, "the bundle")[1]
    assert bundle.startswith("2 alerts firing: ")
    assert f"(#{open_a})" in bundle and f"(#{open_b})" in bundle
    assert bundle.endswith(f"\n{LINE}[WARNING] disk full (#{gone}).")
    assert len(bundle) <= 320

    # Named once: the next bundle to the same person does not say it again.
    later = [post_alert(stack, s) for s in ("cache cold", "dns slow")]
    following = texts_after(stack, HELD, 3, "the following bundle")[2]
    assert all(f"(#{alert_id})" in following for alert_id in later)
    assert LINE not in following and f"#{gone}" not in following
    assert len(texts_to(stack, HELD)) == 3


def test_a_held_alert_resolved_alone_sends_nothing_and_is_named_next_time(stack):
    first = post_alert(stack, "backup late", person="alone")
    texts_after(stack, ALONE, 1, "the first page")
    gone = post_alert(stack, "replica lag", person="alone")
    held_then_resolved(stack, gone)

    # The window closes and the held send runs: it finds its text cancelled.
    window = redis.Redis.from_url(stack.redis_url)
    wait_for(
        lambda: not window.exists(f"bundle-window:sms:{ALONE}"),
        timeout=30,
        what="the bundle window closed",
    )
    time.sleep(3)  # time for a wrongly planned text of its own to show up
    assert len(texts_to(stack, ALONE)) == 1

    nxt = post_alert(stack, "ssl expiring", person="alone")
    text = texts_after(stack, ALONE, 2, "the next page")[1]
    assert f"#{nxt}" in text and f"#{first}" not in text
    assert text.endswith(f"\n{LINE}[WARNING] replica lag (#{gone}).")
    assert len(texts_to(stack, ALONE)) == 2
