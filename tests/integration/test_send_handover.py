"""The hand-over of due sends (worker.tasks.hand_over_sends), run in this process.

A real database and a real Redis broker; no worker runs, so every send task
it publishes waits in the notify queue, where the test reads it. A send kept
in the database for a later slot is handed over once, within the handover lead
of its due time and with a countdown to it; a copy the broker lost is handed
over again after REQUEUE_LOST_AFTER_S. Most seconds nothing is due: then the
run takes no write lock, so it never queues behind (or ahead of) a receiver's
commit on SQLite.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
from sqlalchemy import update

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import Notification, utcnow
from shared.notifications.planning import plan_notification
from tests.broker_messages import queued_tasks
from tests.worker_caches import worker_environment
from worker.queues import NOTIFY
from worker.task_names import SEND_SMS

LOST_AFTER_S = 5.0  # the shortest REQUEUE_LOST_AFTER_S the settings allow


@pytest.fixture
def worker_env(
    in_process_env: dict[str, str], redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[redis.Redis]:
    env = {**in_process_env, "REQUEUE_LOST_AFTER_S": str(LOST_AFTER_S)}
    with worker_environment(monkeypatch, env):
        yield redis_client


def published_sends(client: redis.Redis) -> list[tuple[int, str | None]]:
    """The notification id and ETA of every send_sms task waiting in the broker."""
    return [
        (queued.args[0], queued.headers.get("eta"))
        for queued in queued_tasks(client, NOTIFY, SEND_SMS)
    ]


def waiting_send(database_url: str, due_in_s: float) -> int:
    """A page waiting in the database for a slot `due_in_s` ahead, its slot booked."""
    with session_scope(database_url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id
        notification_id = plan_notification(
            session,
            alert_id=alert_id,
            channel="sms",
            destination="+14155550501",
            text="disk full",
            due_at=utcnow() + timedelta(seconds=due_in_s),
        )
        assert notification_id is not None
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(slot_booked=True, enqueued_at=None)
        )
    return notification_id


def test_a_send_kept_for_its_slot_is_handed_over_once_just_before_it(
    database_url: str, worker_env: redis.Redis
) -> None:
    from worker.tasks.hand_over_sends import hand_over_sends

    notification_id = waiting_send(database_url, due_in_s=3.5)
    assert hand_over_sends()["notifications"] == 0  # 3.5 s ahead: beyond the 2 s lead
    assert published_sends(worker_env) == []

    time.sleep(2.0)
    assert hand_over_sends()["notifications"] == 1
    assert hand_over_sends()["notifications"] == 0  # marked handed over: not published every second
    [(sent_id, eta)] = published_sends(worker_env)
    assert sent_id == notification_id
    assert eta is not None  # a countdown to its slot, which it keeps

    # That copy was lost with the broker: handed over again once it counts as lost.
    worker_env.flushdb()
    time.sleep(LOST_AFTER_S + 0.3)
    assert hand_over_sends()["notifications"] == 1
    assert [sent for sent, _ in published_sends(worker_env)] == [notification_id]


def test_with_nothing_due_a_run_does_not_wait_for_the_write_lock(
    database_url: str, worker_env: redis.Redis
) -> None:
    from worker.tasks.hand_over_sends import hand_over_sends

    if not database_url.startswith("sqlite"):
        pytest.skip("the write lock is SQLite's")
    waiting_send(database_url, due_in_s=60)
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process's transaction holds the lock
    try:
        started = time.monotonic()
        assert hand_over_sends() == {"notifications": 0, "reconcile": 0}
        assert time.monotonic() - started < 1.0
    finally:
        writer.execute("ROLLBACK")
        writer.close()
