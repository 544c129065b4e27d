"""Ingestion when a dependency is down: stored means 202, not stored means never 2xx."""

import pytest
import requests
from sqlalchemy import func, select

from cli.stack import free_port
from shared.core.db import session_scope
from shared.core.models import Alert
from shared.core.settings import load_settings
from tests.conftest import ServedApp
from webhooks.app import create_app

BODY = {"summary": "disk full", "severity": "critical", "recipients": ["+14155550101"]}
AUTH = {"Authorization": "Bearer t"}


def _serve(database_url, redis_url, tmp_path):
    from worker import enqueue

    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        API_TOKENS="t",
        DATA_DIR=str(tmp_path),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    return ServedApp(create_app(settings, enqueue=enqueue), port)


@pytest.fixture
def dead_broker(monkeypatch, broker_env):
    """Point this process's producer at a port where no Redis listens."""
    from worker.celery_app import app

    dead = f"redis://127.0.0.1:{free_port()}/0"
    monkeypatch.setattr(app.conf, "broker_url", dead)
    _forget_broker_connections(app)  # the next publish connects to the dead broker
    yield dead
    monkeypatch.undo()
    _forget_broker_connections(app)  # and later tests' publishes to the live one again


def _forget_broker_connections(app) -> None:  # type: ignore[no-untyped-def]
    """Drop every pooled broker connection and producer, so the next publish reconnects.

    kombu keeps connection and producer pools in process-wide registries, and
    Celery caches both: all of them must go, or a later publish reuses a
    closed pool ("Acquire on closed pool") and nothing reaches the broker.
    """
    from kombu import pools

    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def test_broker_down_alert_still_stored_and_answered_202(database_url, dead_broker, tmp_path):
    served = _serve(database_url, dead_broker, tmp_path)
    try:
        response = requests.post(f"{served.url}/api/v1/alerts", json=BODY, headers=AUTH, timeout=30)
    finally:
        served.stop()
    assert response.status_code == 202
    assert response.json()["queued"] is False  # the tick hands it over when the broker is back
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(Alert)) == 1


def test_database_down_is_503_never_2xx(broker_env, tmp_path):
    unreachable = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    served = _serve(unreachable, broker_env, tmp_path)
    try:
        response = requests.post(f"{served.url}/api/v1/alerts", json=BODY, headers=AUTH, timeout=30)
        health = requests.get(f"{served.url}/healthz", timeout=30)
    finally:
        served.stop()
    assert response.status_code == 503
    assert response.json()["error"] == "storage unavailable, retry later"
    assert health.status_code == 503 and health.json()["checks"]["database"] == "unavailable"
