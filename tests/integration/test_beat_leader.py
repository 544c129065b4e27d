"""Two beats on one Redis, as on two hosts: one leads, the other takes over when it dies.

Real `alert-dispatch beat` processes and a real Redis. No worker runs, so every
tick a beat sends waits in the ingest queue, where the test reads who sent it
(the message's origin, `gen<pid>@host`) and when (its expiry: the send time
plus a constant, so the gaps between two are the gaps between the sends).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import redis

from cli.stack import Stack, StackConfig
from tests.broker_messages import queued_tasks
from tests.polling import wait_for
from webhooks.live_gauges import LiveGauges
from worker.beat_leader import LAST_TICK_KEY, LEADER_KEY, LOCK_TTL_S
from worker.queues import INGEST
from worker.task_names import TICK

# Ticks are due every second: two sends of one slot would be well under a second apart.
MIN_GAP_S = 0.5


@dataclass(frozen=True)
class Tick:
    pid: int
    at: float  # the send time plus the tick's expiry, unix seconds


def sent_ticks(client: redis.Redis) -> list[Tick]:
    """Every tick message waiting in the ingest queue, oldest first."""
    ticks = []
    for queued in queued_tasks(client, INGEST, TICK):
        pid = int(queued.headers["origin"].split("@")[0].removeprefix("gen"))
        ticks.append(Tick(pid, datetime.fromisoformat(queued.headers["expires"]).timestamp()))
    return sorted(ticks, key=lambda tick: tick.at)


def leader_pid(client: redis.Redis) -> int | None:
    value = client.get(LEADER_KEY)  # host:pid:token
    return int(value.split(":")[-2]) if value else None


def gauges(redis_url: str, tmp_path: Path) -> dict[str, float]:
    collector = LiveGauges(f"sqlite:///{tmp_path / 'none.db'}", redis_url)
    return {
        family.name: family.samples[0].value
        for family in collector.collect()
        if family.name.startswith("alert_dispatch_beat_")
    }


@pytest.fixture
def beats(tmp_path: Path, redis_url: str, redis_client: redis.Redis) -> Iterator[Stack]:
    """Beats on the test's Redis, nothing else: `start_beat(name)` adds one."""
    stack = Stack(StackConfig(data_dir=tmp_path, redis_url=redis_url))
    for directory in (stack.logs_dir, stack.metrics_dir):
        directory.mkdir(parents=True, exist_ok=True)
    yield stack
    stack.stop()


def ticks_from(client: redis.Redis, pid: int, at_least: int) -> list[Tick]:
    ticks = [tick for tick in sent_ticks(client) if tick.pid == pid]
    return ticks if len(ticks) >= at_least else []


def test_one_beat_leads_and_another_takes_over_without_a_double_tick(
    beats: Stack, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert gauges(redis_url, tmp_path) == {
        "alert_dispatch_beat_leader": 0,
        "alert_dispatch_beat_last_tick_timestamp_seconds": 0,
    }
    beats.start_beat("beat-a")
    beats.start_beat("beat-b")
    pids = {name: beats.processes[name].pid for name in ("beat-a", "beat-b")}

    # Exactly one leads, and only it sends.
    first = wait_for(lambda: leader_pid(client), timeout=30, what="a leader")
    wait_for(lambda: ticks_from(client, first, 3), timeout=15, what="three ticks")
    assert {tick.pid for tick in sent_ticks(client)} == {first}
    leader = next(name for name, pid in pids.items() if pid == first)
    standby = next(name for name in pids if name != leader)
    standby_log = beats.logs_dir / f"{standby}.log"
    wait_for(lambda: "beat: standing by" in standby_log.read_text(), timeout=10, what="standby")
    live = gauges(redis_url, tmp_path)
    assert live["alert_dispatch_beat_leader"] == 1
    assert time.time() - live["alert_dispatch_beat_last_tick_timestamp_seconds"] < 3

    # The leader dies: the standby takes over once its lock lapses.
    killed_at = time.monotonic()
    beats.kill(leader)
    wait_for(lambda: ticks_from(client, pids[standby], 1), timeout=LOCK_TTL_S + 10, what="takeover")
    takeover_s = time.monotonic() - killed_at
    assert leader_pid(client) == pids[standby]

    # The dead one comes back: it stands by, and sends nothing.
    beats.start_beat(leader)
    restarted = beats.processes[leader].pid
    log = beats.logs_dir / f"{leader}.log"
    wait_for(lambda: log.read_text().count("beat: Starting") == 2, timeout=20, what="restart")
    wait_for(lambda: ticks_from(client, pids[standby], 3), timeout=15, what="ticks go on")
    assert restarted not in {tick.pid for tick in sent_ticks(client)}

    # A clean stop hands over at once, and the schedule goes on from the same slot.
    stopped_at = time.monotonic()
    beats.kill(standby, signal.SIGTERM)
    wait_for(lambda: ticks_from(client, restarted, 1), timeout=15, what="handover")
    handover_s = time.monotonic() - stopped_at
    wait_for(lambda: ticks_from(client, restarted, 3), timeout=15, what="ticks go on")

    ticks = sent_ticks(client)
    assert {tick.pid for tick in ticks} == {first, pids[standby], restarted}
    gaps = [later.at - earlier.at for earlier, later in zip(ticks, ticks[1:], strict=False)]
    assert min(gaps) > MIN_GAP_S, f"a slot sent twice: gaps {gaps}"
    assert takeover_s < LOCK_TTL_S + 4, f"takeover took {takeover_s:.1f}s"
    assert handover_s < 4, f"handover took {handover_s:.1f}s"
    print(f"takeover after SIGKILL {takeover_s:.2f}s; handover on SIGTERM {handover_s:.2f}s")
    print(f"tick gaps min {min(gaps):.2f}s max {max(gaps):.2f}s over {len(ticks)} ticks")

    beats.kill(leader, signal.SIGTERM)  # a clean stop lets go of the lock
    assert gauges(redis_url, tmp_path)["alert_dispatch_beat_leader"] == 0
    assert float(client.get(LAST_TICK_KEY)) > 0
    assert "beat: leading now" in log.read_text()
