"""The baseline's run: the same notice as one Celery task per SMS (bench.notice_baseline).

Against the same simulator (reset first) and the same Redis as the engine's
run, once the engine's worker and beat are stopped, so the two never share
the cores: a Celery worker of the same concurrency consumes the baseline's
queue; at the due moment this process enqueues one task per recipient (the
scheduler's whole job, counted in the time), and the page, as one more task
on the same queue (the baseline has no notion of pages first), at the same
offset as the engine's. Every figure is read where Plivo would see it: the
simulator's messages (one accepted request each); refusals (429) are
counted by the tasks in Redis.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
import requests
from celery import Celery

from bench.common import digits, get_json
from bench.notice_baseline import ACCEPTED_KEY, QUEUE, REFUSED_KEY, TASK_NAME
from bench.notice_figures import (
    Figures,
    Page,
    Request,
    measure,
    message_requests,
    notice_position,
    page_arrival,
)
from bench.notice_processes import RssSampler
from bench.processes import ProcessGroup
from cli.stack import SIMULATOR_AUTH_ID, SIMULATOR_AUTH_TOKEN, Stack, wait_for_celery_workers
from shared.core.embedded_redis import broker_url_for

LABEL = "one Celery task per SMS"
WORKER = "baseline"
POLL_S = 0.5
HALFWAY_POLL_S = 0.1


@dataclass(frozen=True)
class BaselinePlan:
    numbers: Sequence[str]  # E.164
    page_number: str
    sender: str
    text: str
    rate: float
    concurrency: int
    deadline_s: float


@dataclass(frozen=True)
class BaselineRun:
    figures: Figures
    enqueue_s: float  # how long publishing one task per recipient took
    completed: bool  # every recipient accepted before the deadline


def _worker_env(stack: Stack, plan: BaselinePlan) -> dict[str, str]:
    return {
        **os.environ,
        "BENCH_BROKER_URL": broker_url_for(stack.redis_url),
        "BENCH_REDIS_URL": stack.redis_url,
        "BENCH_RATE": f"{plan.rate:g}",
        "BENCH_PLIVO_BASE_URL": stack.simulator_url,
        "BENCH_PLIVO_AUTH_ID": SIMULATOR_AUTH_ID,
        "BENCH_PLIVO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
        "PYTHONUNBUFFERED": "1",
    }


def _publish(producer: Celery, plan: BaselinePlan, numbers: Sequence[str]) -> None:
    with producer.producer_or_acquire() as publisher:
        for number in numbers:
            producer.send_task(
                TASK_NAME,
                args=[plan.sender, number, plan.text],
                queue=QUEUE,
                producer=publisher,
            )


def _send_page_halfway(
    producer: Celery, plan: BaselinePlan, counters: redis.Redis, until: float
) -> tuple[threading.Thread, list[float]]:
    """Publish the page's task once half the recipients were accepted, from a thread;
    the list gets the time it was published."""
    posted: list[float] = []

    def page() -> None:
        while time.time() < until:
            if int(counters.get(ACCEPTED_KEY) or 0) >= len(plan.numbers) // 2:
                break
            time.sleep(HALFWAY_POLL_S)
        posted.append(time.time())
        _publish(producer, plan, [plan.page_number])

    thread = threading.Thread(target=page, name="baseline-page", daemon=True)
    thread.start()
    return thread, posted


def _accepted_requests(simulator_url: str) -> list[Request]:
    """Every accepted SMS request, at the time the simulator took it in.

    Its request log (the times its API limit counts by) when it still holds them
    all; it keeps the newest 20,000 entries, refusals included, so after many 429s
    the messages' own creation times (a few ms later) stand in.
    """
    logged = message_requests(get_json(f"{simulator_url}/_sim/requests", 60))
    accepted = [r for r in logged if r.accepted]
    messages = get_json(f"{simulator_url}/_sim/messages", 60)
    if len(accepted) >= len(messages):
        return accepted
    found = [Request(float(m["created"]), (m["dst"].lstrip("+"),), 202) for m in messages]
    return sorted(found, key=lambda r: r.at)


def run_baseline(stack: Stack, plan: BaselinePlan, logs_dir: Path) -> BaselineRun:
    """Run the baseline on `stack`'s simulator and Redis; its worker is stopped after."""
    requests.post(f"{stack.simulator_url}/_sim/reset", timeout=10).raise_for_status()
    counters = redis.Redis.from_url(stack.redis_url)
    counters.delete(ACCEPTED_KEY, REFUSED_KEY)
    broker_url = broker_url_for(stack.redis_url)
    group = ProcessGroup(logs_dir)
    command = [sys.executable, "-m", "celery", "-A", "bench.notice_baseline", "worker"]
    command += ["-c", str(plan.concurrency), "-n", f"{WORKER}@%h", "-Q", QUEUE]
    group.spawn(WORKER, [*command, "--loglevel", "INFO"], _worker_env(stack, plan))
    producer = Celery(broker=broker_url)
    wanted = len(plan.numbers) + 1  # and the page
    try:
        wait_for_celery_workers(broker_url, [WORKER], timeout=60)
        with RssSampler(group.pid(WORKER)) as rss:
            due = time.time()
            until = due + plan.deadline_s
            pager, posted = _send_page_halfway(producer, plan, counters, until)
            _publish(producer, plan, plan.numbers)
            enqueue_s = time.time() - due
            print(f"baseline: {len(plan.numbers)} tasks enqueued in {enqueue_s:.1f} s", flush=True)
            while time.time() < until:
                if int(counters.get(ACCEPTED_KEY) or 0) >= wanted:
                    break
                time.sleep(POLL_S)
            pager.join(timeout=10)
        accepted = _accepted_requests(stack.simulator_url)
        refused = int(counters.get(REFUSED_KEY) or 0)
    finally:
        group.stop()
        producer.close()
        counters.close()
    return _figures(plan, accepted, refused, due, posted, rss.peak, enqueue_s)


def _figures(
    plan: BaselinePlan,
    accepted: list[Request],
    refused: int,
    due: float,
    posted: list[float],
    rss: tuple[int, int] | None,
    enqueue_s: float,
) -> BaselineRun:
    recipients = [digits(n) for n in plan.numbers]
    reached = page_arrival(accepted, digits(plan.page_number))
    page = (
        Page(
            posted[0],
            reached,
            None if reached is None else notice_position(accepted, recipients, reached),
        )
        if posted
        else None
    )
    figures = measure(
        LABEL,
        accepted,
        recipients=recipients,
        rate=plan.rate,
        due_at=due,
        api_accepted=[r.at for r in accepted],
        rejected=refused,
        page=page,
        rss=rss,
    )
    return BaselineRun(figures, enqueue_s, completed=figures.lost == 0)
