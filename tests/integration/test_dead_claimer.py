"""A send whose worker died is handed over at the next hand-over of sends (every
second), not after the longest request: its claimer's liveness key in Redis has
lapsed. A send whose claimer is alive, or that names none, keeps waiting out the
long window; a hand-over that cannot ask Redis, or asks it soon after it lost its
keys, declares nobody dead (a wrong "dead" would page twice)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from cli.stack import free_port
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import Notification, utcnow
from shared.notifications import report_inbox
from shared.notifications.accepted_sends import AcceptedSend, accepted_entry
from shared.notifications.state import NotificationState
from tests.broker_messages import queued_tasks
from tests.polling import wait_for
from tests.worker_caches import clear_worker_caches, worker_environment
from worker.queues import CALLBACKS, NOTIFY
from worker.sending import liveness
from worker.sending.handover import cutoffs
from worker.task_names import APPLY_DELIVERY_REPORTS, RECONCILE
from worker.tasks.hand_over_sends import settle_stuck_sends

LIVE = "host-a:101:aaaaaaaa"
DEAD = "host-a:102:bbbbbbbb"


@pytest.fixture
def worker_env(
    in_process_env: dict[str, str], redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> Iterator[redis.Redis]:
    with worker_environment(monkeypatch, in_process_env):
        settle(redis_client)
        yield redis_client


def settle(client: redis.Redis) -> None:
    """This Redis has held the liveness keys for a minute: an absent key means a dead claimer."""
    client.set(liveness.EPOCH_KEY, f"{time.time() - 60:.3f}")


def sending_rows(database_url: str, claimers: list[str | None]) -> list[int]:
    """One alert, and one notification "sending" for a few seconds per claimer."""
    with session_scope(database_url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id
        since = utcnow() - timedelta(seconds=3)
        rows = [
            Notification(
                alert_id=alert_id,
                channel="sms",
                destination=f"+1415555030{i}",
                state=NotificationState.SENDING.value,
                state_changed_at=since,
                claimed_by=claimer,
            )
            for i, claimer in enumerate(claimers)
        ]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def states(database_url: str, ids: list[int]) -> list[str]:
    with session_scope(database_url) as session:
        return [session.get(Notification, i).state for i in ids]


def test_only_the_send_whose_claimer_lapsed_is_handed_over_at_once(worker_env, database_url):
    worker_env.set(liveness.alive_key(LIVE), "1", px=5000)
    worker_env.delete(liveness.alive_key(DEAD))
    live, dead, unnamed = sending_rows(database_url, [LIVE, DEAD, None])
    with session_scope(database_url) as session:
        handed_over = settle_stuck_sends(session, cutoffs(utcnow(), 60.0))
    assert handed_over == [dead]
    assert states(database_url, [live, dead, unnamed]) == ["sending", "unknown", "sending"]
    # Past the longest request every send counts as lost, claimer or not.
    later = utcnow() + timedelta(seconds=30)
    with session_scope(database_url) as session:
        assert sorted(settle_stuck_sends(session, cutoffs(later, 60.0))) == [live, unnamed]


def test_a_hand_over_soon_after_redis_lost_its_keys_declares_nobody_dead(worker_env, database_url):
    (claimed,) = sending_rows(database_url, [DEAD])
    worker_env.delete(liveness.EPOCH_KEY)  # an empty Redis: no process has renewed into it yet
    with session_scope(database_url) as session:
        assert settle_stuck_sends(session, cutoffs(utcnow(), 60.0)) == []
    worker_env.set(liveness.EPOCH_KEY, f"{time.time() - 1:.3f}")  # the first renewal, 1 s ago
    with session_scope(database_url) as session:
        assert settle_stuck_sends(session, cutoffs(utcnow(), 60.0)) == []
    assert states(database_url, [claimed]) == ["sending"]
    settle(worker_env)  # every live process has renewed since: still absent means dead
    with session_scope(database_url) as session:
        assert settle_stuck_sends(session, cutoffs(utcnow(), 60.0)) == [claimed]


def test_a_hand_over_that_cannot_reach_redis_declares_nobody_dead(
    worker_env, database_url, monkeypatch
):
    (dead,) = sending_rows(database_url, [DEAD])
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    clear_worker_caches()
    with session_scope(database_url) as session:
        assert settle_stuck_sends(session, cutoffs(utcnow(), 60.0)) == []
    assert states(database_url, [dead]) == ["sending"]


CLAIMER = """
import os, sys, time
import redis
from worker.sending import liveness
client = redis.Redis.from_url(sys.argv[1])
print(liveness.claimer_token(lambda: client), flush=True)
time.sleep(float(sys.argv[2]))
os._exit(0)
"""


def test_a_claimer_is_alive_while_its_process_runs_and_dead_soon_after(redis_url):
    client = redis.Redis.from_url(redis_url)
    settle(client)
    process = subprocess.Popen(
        [sys.executable, "-c", CLAIMER, redis_url, "3"], stdout=subprocess.PIPE, text=True
    )
    token = process.stdout.readline().strip()
    assert token and token != "None"
    time.sleep(1.5)  # the key set at the claim has less than ALIVE_TTL_S - 1.5 s left now
    ttls_ms = []
    while process.poll() is None and len(ttls_ms) < 40:
        ttls_ms.append(client.pttl(liveness.alive_key(token)))
        time.sleep(0.05)
    assert max(ttls_ms) > (liveness.ALIVE_TTL_S - 1.0) * 1000  # renewed, not only set
    assert liveness.dead_claimers(client, [token, DEAD], time.time()) == {DEAD}
    process.wait(timeout=10)
    exited = time.monotonic()

    def seen_dead() -> set[str]:
        return liveness.dead_claimers(client, [token], time.time())

    wait_for(seen_dead, timeout=10.0, interval=0.1)
    # Lapsed within ALIVE_TTL_S of the last renewal (margin: a loaded machine's polling).
    assert time.monotonic() - exited <= liveness.ALIVE_TTL_S + 2.0


def test_the_hand_over_of_sends_looks_up_a_send_whose_claimer_died(worker_env, database_url):
    """Every second, on the notify queue ahead of any routing backlog: the send becomes
    unknown and a look-up at Plivo (notify.reconcile) is queued for it, once."""
    from worker.tasks.hand_over_sends import hand_over_sends

    worker_env.set(liveness.alive_key(LIVE), "1", px=5000)
    worker_env.delete(liveness.alive_key(DEAD))
    live, dead = sending_rows(database_url, [LIVE, DEAD])
    assert hand_over_sends() == {"notifications": 0, "reconcile": 1}
    assert states(database_url, [live, dead]) == ["sending", "unknown"]
    assert queued_reconciles(worker_env) == [dead]
    assert hand_over_sends() == {"notifications": 0, "reconcile": 0}  # handed over once


def queued_reconciles(client: redis.Redis) -> list[int]:
    """The notification of every reconcile task waiting in the broker."""
    return [queued.args[0] for queued in queued_tasks(client, NOTIFY, RECONCILE)]


def test_a_dead_claimers_send_whose_record_waits_in_the_report_inbox_is_not_lost(
    worker_env, database_url
):
    """Plivo accepted it and the worker left the record in the inbox before it died: the
    drainer moves it on, and no look-up at Plivo is spent on it (hundreds at once
    after a crash in a backlog of reports ran into Plivo's API limit)."""
    from worker.tasks.hand_over_sends import hand_over_sends

    worker_env.delete(liveness.alive_key(DEAD))
    recorded, lost = sending_rows(database_url, [DEAD, DEAD])
    accepted = AcceptedSend(recorded, "uuid-recorded", {}, utcnow())
    report_inbox.push(worker_env, accepted_entry(accepted))
    report_inbox.acquire(worker_env)  # the drainer holding the inbox died with the worker
    assert hand_over_sends() == {"notifications": 0, "reconcile": 1}
    assert states(database_url, [recorded, lost]) == ["sending", "unknown"]
    assert queued_reconciles(worker_env) == [lost]
    assert queued_tasks(worker_env, CALLBACKS, APPLY_DELIVERY_REPORTS) == []  # lock held

    worker_env.delete(report_inbox.LOCK_KEY)  # the dead drainer's lock lapses
    hand_over_sends()
    assert len(queued_tasks(worker_env, CALLBACKS, APPLY_DELIVERY_REPORTS)) == 1
    assert states(database_url, [recorded]) == ["sending"]  # still the drainer's to move
