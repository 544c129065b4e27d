"""BROKER_URL=amqp://: the receiver's /metrics and the status page count what waits in RabbitMQ.

Pages waiting in RabbitMQ's queues are the backlog an operator watches; read
from Redis lists, they would show 0 while pages wait. Messages are published
to the notify queue of a RabbitMQ virtual host of the test's own, declared as
the workers declare it (a quorum queue), and the receiver, built on that
broker with a real database and Redis, must count them. The other queues,
never declared there, count 0. A broker that does not answer leaves the gauge
out of the scrape with one warning, and the page says so.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from kombu import Connection
from prometheus_client.parser import text_string_to_metric_families

from bench.scale_out_system import drop_vhost, make_vhost, rabbitmq_unavailable
from shared.core.settings import load_settings
from webhooks.app import create_app
from worker.queues import NOTIFY, QUORUM_QUEUES

STATUS_TOKEN = "queue-depth-test-token"
WAITING = 7


@pytest.fixture
def amqp_url() -> Iterator[str]:
    """A RabbitMQ virtual host of this test's own: the queue names are fixed."""
    reason = rabbitmq_unavailable()
    if reason:
        pytest.skip(reason)
    vhost = f"test_queue_depth_{os.getpid()}_{time.time_ns()}"
    make_vhost(vhost)
    try:
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        drop_vhost(vhost)


def receiver(broker_url: str, database_url: str, redis_url: str, tmp_path: Path) -> FlaskClient:
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        BROKER_URL=broker_url,
        DATA_DIR=str(tmp_path),
        API_TOKENS="t",
        STATUS_PAGE_TOKEN=STATUS_TOKEN,
    )
    return create_app(settings).test_client()


def publish(broker_url: str, queue_name: str, count: int) -> None:
    """`count` messages into `queue_name`, declared as the workers declare it; each
    publish waits for the broker's confirm, so all are in the queue on return."""
    queue = next(q for q in QUORUM_QUEUES if q.name == queue_name)
    with Connection(broker_url, transport_options={"confirm_publish": True}) as connection:
        producer = connection.Producer()
        for number in range(count):
            producer.publish(
                {"page": number},
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                declare=[queue],
            )


def scrape(client: FlaskClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Family name -> {labels: value} of one /metrics answer."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {
        family.name: {tuple(sorted(s.labels.items())): s.value for s in family.samples}
        for family in text_string_to_metric_families(response.get_data(as_text=True))
    }


def status_queues(client: FlaskClient) -> dict[str, int]:
    """The queues table of the status page, as shown: queue name -> waiting."""
    response = client.get("/status", query_string={"token": STATUS_TOKEN})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    table = re.search(r'<table id="queues">(.*?)</table>', html, re.S)
    assert table, "the status page shows no queues table"
    names = re.findall(r"<th>queue (\w+)</th>", table.group(1))
    counts = re.findall(r'<td class="num">(\d+)</td>', table.group(1))
    return dict(zip(names, map(int, counts), strict=True))


def test_metrics_and_status_page_count_the_messages_waiting_in_rabbitmq(
    amqp_url: str, database_url: str, redis_url: str, redis_client, tmp_path: Path
) -> None:
    publish(amqp_url, NOTIFY, WAITING)
    client = receiver(amqp_url, database_url, redis_url, tmp_path)

    families = scrape(client)
    assert families["alert_dispatch_queue_depth"] == {
        (("queue", "ingest"),): 0,
        (("queue", "notify"),): WAITING,
        (("queue", "callbacks"),): 0,
    }
    # RabbitMQ cannot show a message's publish time without taking it: no oldest age,
    # but the limiter delay (read from Redis) is still there.
    assert "alert_dispatch_queue_oldest_task_age_seconds" not in families
    assert set(families["alert_dispatch_limiter_delay_seconds"]) == {
        (("limit", "account-sms"),),
        (("limit", "account-calls"),),
    }

    assert status_queues(client) == {"ingest": 0, "notify": WAITING, "callbacks": 0}


def test_a_broker_that_does_not_answer_leaves_queue_depth_out_and_is_said(
    database_url: str,
    redis_url: str,
    redis_client,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from cli.stack import free_port

    down = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    client = receiver(down, database_url, redis_url, tmp_path)

    with caplog.at_level(logging.WARNING, logger="webhooks.live_gauges"):
        started = time.monotonic()
        families = scrape(client)
        took = time.monotonic() - started
    assert took < 5
    assert "alert_dispatch_queue_depth" not in families
    assert "alert_dispatch_limiter_delay_seconds" in families
    assert "alert_dispatch_open_alerts" in families
    left_out = [r for r in caplog.records if "queue depth left out" in r.getMessage()]
    assert len(left_out) == 1
    assert "guest:guest" not in caplog.text

    response = client.get("/status", query_string={"token": STATUS_TOKEN})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "The broker did not answer" in html
    assert '<table id="queues">' not in html


def test_the_status_page_lists_the_workers_that_answer_on_rabbitmq(
    amqp_url: str, tmp_path: Path
) -> None:
    """The workers are asked on the broker they listen on: with BROKER_URL=amqp://,
    a receiver asking Redis would say no worker answered while the worker runs."""
    import requests

    from cli.stack import Stack, StackConfig
    from tests.polling import wait_for

    env = {"BROKER_URL": amqp_url, "STATUS_PAGE_TOKEN": STATUS_TOKEN}
    with Stack(StackConfig(data_dir=tmp_path, worker_concurrency=1, extra_env=env)) as stack:

        def listed() -> str | None:
            page = requests.get(
                f"{stack.web_url}/status", params={"token": STATUS_TOKEN}, timeout=20
            )
            return page.text if re.search(r"<td[^>]*>worker1@", page.text) else None

        html = wait_for(listed, timeout=60, interval=1.0, what="the worker on the page")
    assert "No worker answered" not in html
