"""A receiver whose routing on arrival fails still stores the alert, once, and hands its
routing to the workers: the failed routing's writes are rolled back with it and the
request is stored again. Real HTTP, real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.events import record_event
from shared.core.models import Alert, Event, utcnow
from tests.conftest import ServedApp, receiver_settings
from worker.route_on_arrival import ArrivalRouter

TOKEN = "token-one"


class RoutingTasks:
    """The routing tasks the receiver hands the workers (its broker side)."""

    def __init__(self) -> None:
        self.published: list[list[int]] = []

    def route_alerts(self, alert_ids: list[int], priority: int | None = None) -> bool:
        self.published.append(list(alert_ids))
        return True

    def hang_up_calls(self, alert_id: int) -> bool:
        return True


def routing_that_fails_half_way(session: Session, alert_ids: list[int]) -> None:
    """Writes what a routing writes first, then fails."""
    session.execute(
        update(Alert).where(Alert.id.in_(alert_ids)).values(dispatched_at=utcnow(), policy="half")
    )
    record_event(session, "escalation.step_fired", alert_id=alert_ids[0], detail={"half": True})
    raise RuntimeError("the routing broke half way")


@pytest.fixture
def failing_receiver(
    database_url: str, broker_env: str, tmp_path: Path
) -> Iterator[tuple[ServedApp, RoutingTasks]]:
    from cli.stack import free_port
    from webhooks.app import create_app

    port = free_port()
    settings = receiver_settings(database_url, broker_env, tmp_path, port, API_TOKENS=TOKEN)
    tasks = RoutingTasks()
    app = create_app(settings, enqueue=tasks, route_on_arrival=False)
    app.config["ROUTE_ON_ARRIVAL"] = ArrivalRouter(
        route_in=routing_that_fails_half_way,  # type: ignore[arg-type]
        one_writer=False,  # routes every request here, whatever the database
    )
    served = ServedApp(app, port)
    yield served, tasks
    served.stop()


def test_a_failed_routing_leaves_the_alert_stored_once_and_routed_by_the_workers(
    failing_receiver: tuple[ServedApp, RoutingTasks], database_url: str
) -> None:
    served, tasks = failing_receiver
    response = requests.post(
        f"{served.url}/api/v1/alerts",
        json={"summary": "disk full", "dedup_key": "disk", "recipients": ["+14155550182"]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "created"
    assert body["queued"] is True  # the workers' routing task was published
    with session_scope(database_url) as session:
        alerts = session.scalars(select(Alert)).all()
        kinds = session.scalars(select(Event.kind).order_by(Event.id)).all()
        assert [(a.id, a.dispatched_at, a.policy) for a in alerts] == [(body["id"], None, None)]
    assert kinds == ["alert.accepted"]  # stored again: once, and nothing of the failed routing
    assert tasks.published == [[body["id"]]]
