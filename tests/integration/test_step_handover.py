"""The hand-over of steps gives a due escalation step to the workers once, not once a second.

A real database and a real Redis broker; no worker runs, so every fire_step
task the hand-over publishes waits in the notify queue, where the test counts them,
as under load when the workers are behind. A copy the broker lost is handed
over again after REQUEUE_LOST_AFTER_S; the next step goes when it falls due.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.oncall_files import two_step_chain
from cli.stack import free_port
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert, claim_routing
from shared.core.db import session_scope
from shared.core.models import utcnow
from shared.escalation.engine import start
from shared.routing.oncall_config import parse_config
from shared.routing.route import freeze_chain
from tests.broker_messages import queued_tasks
from tests.worker_caches import worker_environment
from webhooks.queue_depths import priority_lists
from worker.queues import HAND_OVER_PRIORITY, NOTIFY, PRIORITY_STEPS
from worker.task_names import FIRE_STEP

LOST_AFTER_S = 5.0  # the shortest REQUEUE_LOST_AFTER_S the settings allow
STEP_WAIT_S = 2
ONCALL = two_step_chain("+14155550401", "+14155550402", STEP_WAIT_S)


@pytest.fixture
def worker_env(
    in_process_env: dict[str, str],
    redis_client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[redis.Redis]:
    """The hand-over's and fire_step's settings: this test's database, the broker, the file."""
    config = tmp_path / "oncall.yaml"
    config.write_text(ONCALL)
    env = {
        **in_process_env,
        "CONFIG_FILE": str(config),
        "REQUEUE_LOST_AFTER_S": str(LOST_AFTER_S),
        # Nobody answers there: a page the fired step sends fails and waits for a
        # retry, which this test does not follow.
        "PLIVO_BASE_URL": f"http://127.0.0.1:{free_port()}",
    }
    with worker_environment(monkeypatch, env):
        yield redis_client


def published_steps(client: redis.Redis) -> list[list[int]]:
    """The (alert id, step, round) of every fire_step task waiting in the broker."""
    return [queued.args for queued in queued_tasks(client, NOTIFY, FIRE_STEP)]


def started_alert(database_url: str) -> int:
    """An alert routed to `two`, its first step due now (as dispatch leaves it)."""
    with session_scope(database_url) as session:
        alert_id = accept_alert(session, AlertIn(summary="queue backlog")).alert_id
        assert claim_routing(session, alert_id) is not None
        snapshot = freeze_chain(parse_config(ONCALL), "two")
        assert start(session, alert_id, "two", utcnow(), snapshot=snapshot)
    return alert_id


def test_a_queued_step_is_handed_over_once_until_lost_then_the_next_at_its_time(
    database_url: str, worker_env: redis.Redis
) -> None:
    from worker.tasks.fire_step import fire_step
    from worker.tasks.hand_over_steps import hand_over_steps

    alert_id = started_alert(database_url)
    first_handover = time.monotonic()
    for _ in range(4):  # runs while the first copy still waits in the queue
        hand_over_steps()
        time.sleep(0.5)
    assert published_steps(worker_env) == [[alert_id, 0, 0]]
    # Ahead of every page and routing waiting: the notify queue's first priority list.
    assert worker_env.llen(priority_lists(NOTIFY)[0]) == 1
    assert PRIORITY_STEPS[0] == HAND_OVER_PRIORITY

    # That copy was lost with the broker: handed over again once it counts as lost.
    worker_env.flushdb()
    time.sleep(max(0.0, first_handover + LOST_AFTER_S + 0.3 - time.monotonic()))
    hand_over_steps()
    hand_over_steps()
    assert published_steps(worker_env) == [[alert_id, 0, 0]]

    # A worker runs it: step 0 fires, step 1 is due STEP_WAIT_S later, not before.
    assert fire_step(alert_id, 0, 0) == "fired"
    worker_env.flushdb()
    fired_at = time.monotonic()
    hand_over_steps()
    assert published_steps(worker_env) == []
    time.sleep(max(0.0, fired_at + STEP_WAIT_S + 0.3 - time.monotonic()))
    for _ in range(3):
        hand_over_steps()
    assert published_steps(worker_env) == [[alert_id, 1, 0]]
