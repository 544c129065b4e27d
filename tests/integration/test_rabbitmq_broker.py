"""BROKER_URL=amqp://: pages go through RabbitMQ, in quorum queues; the limiter stays in Redis.

A real stack (receiver, worker, simulator) on a RabbitMQ virtual host of the
test's own, with Redis (REDIS_URL) kept for the rate limiter. Three pages at one
SMS a second: the later two wait for their slots as countdowns, which RabbitMQ
holds in its delay queues (Celery's native delayed delivery on quorum queues).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from bench.scale_out_system import drop_vhost, make_vhost, rabbitmq_unavailable
from cli.stack import Stack, StackConfig
from tests.polling import wait_for

NUMBERS = ("+14155550181", "+14155550182", "+14155550183")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Stack, str]]:
    reason = rabbitmq_unavailable()
    if reason:
        pytest.skip(reason)
    vhost = f"test_broker_{os.getpid()}_{time.time_ns()}"
    make_vhost(vhost)
    config = StackConfig(
        data_dir=tmp_path,
        extra_env={
            "BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{vhost}",
            "SMS_PER_SECOND": "1",
            "SENDER_SMS_PER_SECOND": "1",
            "BUNDLE_WINDOW_S": "0",
        },
    )
    try:
        with Stack(config) as running:
            log = running.logs_dir / "worker1.log"
            wait_for(lambda: " ready." in log.read_text(), 90, what="the worker ready")
            yield running, vhost
    finally:
        drop_vhost(vhost)


def queues(vhost: str) -> dict[str, str]:
    """Queue name -> type in the virtual host, as RabbitMQ lists them."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type", "--no-table-headers"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return dict(line.split()[:2] for line in listed.splitlines() if line.strip())


def test_pages_go_through_rabbitmq_quorum_queues_at_the_rate_held_in_redis(
    stack: tuple[Stack, str],
) -> None:
    running, vhost = stack
    headers = {"Authorization": f"Bearer {running.config.api_token}"}
    for number in NUMBERS:
        response = requests.post(
            f"{running.web_url}/api/v1/alerts",
            json={"summary": "disk full", "severity": "critical", "recipients": [number]},
            headers=headers,
            timeout=10,
        )
        assert response.status_code == 202, response.text

    def messages() -> list[dict[str, object]]:
        return requests.get(f"{running.simulator_url}/_sim/messages", timeout=10).json()

    wait_for(lambda: len(messages()) >= len(NUMBERS), 90, what="three pages")
    time.sleep(2)  # anything sent twice would arrive by now
    sent = Counter(str(m["dst"]) for m in messages())
    assert sent == Counter(n.lstrip("+") for n in NUMBERS)

    found = queues(vhost)
    assert {found.get(q) for q in ("ingest", "notify", "callbacks")} == {"quorum"}
    # The countdowns waited in RabbitMQ's delay queues, themselves quorum queues.
    assert found.get("celery_delayed_0") == "quorum"
    # The limiter's state is in Redis, not in the broker.
    limiter = redis.Redis.from_url(running.redis_url)
    assert any(limiter.scan_iter("ratelimit:*"))
