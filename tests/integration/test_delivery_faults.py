"""Plivo misbehaving, counted at the simulators: nothing lost, nothing sent twice.

The long drills (30 % of requests failing for 30 s, the primary account down
while a backup carries the pages) run in `python -m bench.chaos` (scenarios 4
and 6, results in bench/results/chaos.md); the backup's takeover for a single
send is also covered by tests/integration/test_reply_send_path.py.
"""

from __future__ import annotations

import time
from functools import partial

import pytest
import redis
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Notification
from tests.polling import wait_for as poll
from tests.stack_alerts import post_alert


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("faults"),
        redis_url=stack_broker,
        with_beat=True,
        backup_simulator=True,
        extra_env={
            "PLIVO_READ_TIMEOUT": "1",
            "RECONCILE_GRACE_S": "1",
            "BREAKER_FAILURES": "3",
            "BREAKER_OPEN_S": "3",
            "BUNDLE_WINDOW_S": "0",
        },
    )
    with Stack(config) as running:
        running.wait_for_workers()
        yield running


@pytest.fixture(autouse=True)
def clean_slate(stack):
    """Each test starts with the primary's circuit closed and no faults left over."""
    client = redis.Redis.from_url(stack.redis_url)
    for key in client.scan_iter("breaker:*"):
        client.delete(key)
    yield
    for url in (stack.simulator_url, stack.backup_simulator_url):
        requests.delete(f"{url}/_sim/faults", timeout=5)


def fault(url, **spec):
    requests.post(f"{url}/_sim/faults", json=spec, timeout=5).raise_for_status()


def received(url):
    """Destinations of every message a simulator accepted (with the + restored)."""
    return [
        "+" + m["dst"].lstrip("+") for m in requests.get(f"{url}/_sim/messages", timeout=10).json()
    ]


def all_received(stack):
    return received(stack.simulator_url) + received(stack.backup_simulator_url)


def states(stack, alert_ids):
    with session_scope(stack.database_url) as session:
        return {
            n.alert_id: n
            for n in session.scalars(
                select(Notification).where(Notification.alert_id.in_(alert_ids))
            )
        }


wait_for = partial(poll, timeout=60.0, interval=0.2)


def test_timeout_after_plivo_received_is_reconciled_never_resent(stack):
    number = "+14155550330"
    requests.post(
        f"{stack.simulator_url}/_sim/scenarios",
        json={"number": number, "sms": "no-callback"},
        timeout=5,
    ).raise_for_status()
    fault(stack.simulator_url, timeout_after_receive=True, rate=1.0, duration_s=2, paths="Message")
    alert_id = post_alert(stack, number)
    wait_for(lambda: (n := states(stack, [alert_id]).get(alert_id)) and n.state == "unknown")
    settled = wait_for(
        lambda: (
            (n := states(stack, [alert_id]).get(alert_id))
            and n.state not in ("pending", "sending", "unknown")
            and n
        )
    )
    assert settled.provider_uuid  # adopted from Plivo's own record
    time.sleep(3)
    assert all_received(stack).count(number) == 1
