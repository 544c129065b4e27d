"""The receiver's live gauges over real HTTP: read from the database and Redis at each scrape."""

from __future__ import annotations

import time

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from cli.stack import free_port
from shared.core.db import session_scope
from shared.core.enums import EscalationState
from shared.core.models import Alert, OptOut
from shared.core.settings import load_settings
from tests.conftest import ServedApp
from webhooks.app import create_app

AUTH = {"Authorization": "Bearer token-one"}
NUMBER = "+14155550123"


def trigger(receiver, summary: str, severity: str) -> int:
    body = {"summary": summary, "severity": severity, "recipients": [NUMBER]}
    response = requests.post(f"{receiver.url}/api/v1/alerts", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def scrape(receiver) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the scrape, by name and sorted labels."""
    response = requests.get(f"{receiver.url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def open_alerts(samples, severity: str, status: str) -> float:
    return samples[("alert_dispatch_open_alerts", (("severity", severity), ("status", status)))]


def queue_depth(samples, queue: str) -> float:
    return samples[("alert_dispatch_queue_depth", (("queue", queue),))]


def test_gauges_follow_the_database_and_the_queues(receiver, redis_client):
    first = trigger(receiver, "disk full", "critical")
    trigger(receiver, "db down", "critical")
    trigger(receiver, "cpu high", "warning")

    samples = scrape(receiver)
    assert open_alerts(samples, "critical", "triggered") == 2
    assert open_alerts(samples, "warning", "triggered") == 1
    assert open_alerts(samples, "critical", "acknowledged") == 0
    assert open_alerts(samples, "info", "triggered") == 0
    assert samples[("alert_dispatch_chains_in_flight", ())] == 0
    assert samples[("alert_dispatch_opted_out_numbers", ())] == 0
    # No worker runs here: each alert's dispatch task waits in the ingest queue.
    assert queue_depth(samples, "ingest") == 3
    assert queue_depth(samples, "callbacks") == 0

    response = requests.post(
        f"{receiver.url}/api/v1/alerts/{first}/ack", json={"by": "ops"}, headers=AUTH, timeout=10
    )
    assert response.status_code == 200, response.text
    with session_scope(receiver.settings.effective_database_url) as session:
        session.execute(
            update(Alert).where(Alert.id != first).values(escalation=EscalationState.ACTIVE.value)
        )
        session.add(OptOut(destination=NUMBER))

    samples = scrape(receiver)
    assert open_alerts(samples, "critical", "triggered") == 1
    assert open_alerts(samples, "critical", "acknowledged") == 1
    assert open_alerts(samples, "warning", "triggered") == 1
    assert samples[("alert_dispatch_chains_in_flight", ())] == 2
    assert samples[("alert_dispatch_opted_out_numbers", ())] == 1


def test_queue_depth_sums_every_priority_list(receiver, redis_client):
    redis_client.rpush("notify", "a")
    redis_client.rpush("notify\x06\x163", "b", "c")
    redis_client.rpush("notify\x06\x169", "d")
    redis_client.rpush("callbacks\x06\x166", "e")

    samples = scrape(receiver)
    assert queue_depth(samples, "notify") == 4
    assert queue_depth(samples, "callbacks") == 1


def test_scrape_answers_without_redis(database_url, broker_env, tmp_path):
    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        API_TOKENS="token-one",
        DATA_DIR=str(tmp_path),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    served = ServedApp(create_app(settings), port)
    try:
        samples = scrape(served)
    finally:
        served.stop()
    assert not any(name == "alert_dispatch_queue_depth" for name, _ in samples)
    assert open_alerts(samples, "critical", "triggered") == 0
    assert any(name == "alert_dispatch_alerts_accepted_total" for name, _ in samples)


def test_scrape_answers_without_the_database(broker_env, tmp_path):
    port = free_port()
    settings = load_settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'never-migrated.db'}",
        REDIS_URL=broker_env,
        API_TOKENS="token-one",
        DATA_DIR=str(tmp_path),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    served = ServedApp(create_app(settings), port)
    try:
        samples = scrape(served)
    finally:
        served.stop()
    assert not any(name == "alert_dispatch_open_alerts" for name, _ in samples)
    assert ("alert_dispatch_queue_depth", (("queue", "ingest"),)) in samples


def breaker_state(samples) -> str:
    [state] = [
        dict(labels)["state"]
        for (name, labels), value in samples.items()
        if name == "alert_dispatch_breaker_state" and value == 1
    ]
    return state


def test_breaker_state_is_read_at_each_scrape(receiver, redis_client):
    assert breaker_state(scrape(receiver)) == "closed"
    # As CircuitBreaker._open stores it after repeated failures of the primary account.
    redis_client.set("breaker:primary:open_until", repr(time.time() + 30))
    assert breaker_state(scrape(receiver)) == "open"
    redis_client.set("breaker:primary:open_until", repr(time.time() - 1))
    assert breaker_state(scrape(receiver)) == "half_open"
