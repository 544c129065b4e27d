"""Look-ups at Plivo stay within their share of the account's API requests.

Plivo allows 300 API requests per 5 s per account and answers 429 above it,
to sends as much as to look-ups. When many sends end unknown at once (a
worker killed holding them, a burst of timeouts), each is settled by looking
it up in the account's message list; unpaced, those look-ups took the limit
from the sends in the chaos drill. Counted here at the simulator.
"""

from __future__ import annotations

import re
from functools import partial

import pytest
import requests
from sqlalchemy import select

from bench.load import accepted_by_number, silence_reports
from bench.rate_limit import sliding_window_counts
from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Notification
from tests.polling import wait_for as poll
from tests.stack_alerts import post_alert

# Look-ups at Plivo this stack may make per 5 s (PLIVO_LOOKUPS_PER_5S).
LOOKUPS_PER_5S = 10

wait_for = partial(poll, timeout=60.0, interval=0.2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("lookups"),
        redis_url=stack_broker,
        with_beat=True,
        extra_env={
            "PLIVO_READ_TIMEOUT": "1",
            "RECONCILE_GRACE_S": "1",
            "BUNDLE_WINDOW_S": "0",
            "PLIVO_LOOKUPS_PER_5S": str(LOOKUPS_PER_5S),
        },
    )
    with Stack(config) as running:
        running.wait_for_workers()
        yield running


def simulator_log(stack: Stack) -> list[dict]:
    return requests.get(f"{stack.simulator_url}/_sim/requests", timeout=10).json()


def test_a_burst_of_unknown_sends_is_looked_up_within_the_lookup_budget(stack):
    # Twelve sends Plivo carries out but does not answer in time: twelve look-ups
    # fall due within a few seconds, more than this stack's 10 per 5 s.
    numbers = [f"+141555504{i:02d}" for i in range(12)]
    silence_reports(stack.simulator_url, numbers)
    fault = {"timeout_after_receive": True, "paths": "Message", "methods": "POST"}
    requests.post(f"{stack.simulator_url}/_sim/faults", json=fault, timeout=5).raise_for_status()
    alert_ids = [post_alert(stack, number) for number in numbers]
    wait_for(lambda: set(numbers) <= set(accepted_by_number(stack.simulator_url)))
    requests.delete(f"{stack.simulator_url}/_sim/faults", timeout=5).raise_for_status()

    def adopted() -> bool:
        with session_scope(stack.database_url) as session:
            found = session.scalars(
                select(Notification.provider_uuid).where(Notification.alert_id.in_(alert_ids))
            ).all()
        return len(found) == len(numbers) and all(found)

    wait_for(adopted)
    log = simulator_log(stack)
    look_ups = sorted(r["time"] for r in log if r["method"] == "GET" and "/Message/" in r["path"])
    assert len(look_ups) >= len(numbers)  # each unknown send was looked up
    assert max(sliding_window_counts(look_ups, 5.0)) <= LOOKUPS_PER_5S
    assert not [r for r in log if r["status"] == 429]
    accepted = accepted_by_number(stack.simulator_url)
    assert {n: len(accepted[n]) for n in accepted} == dict.fromkeys(numbers, 1)  # never resent
    # Twelve due at once against ten per 5 s: some were sent back to wait, and counted.
    metrics = requests.get(f"{stack.web_url}/metrics", timeout=5).text
    deferred = re.search(r"^alert_dispatch_lookups_deferred_total (\S+)$", metrics, re.M)
    assert deferred is not None and float(deferred.group(1)) >= 1
