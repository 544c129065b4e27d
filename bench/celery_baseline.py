"""Celery's built-in `rate_limit`, alone: the baseline that `bench.rate_limit` measures.

A deliberately minimal app, one task that posts one SMS to Plivo (the
simulator), so the figures show what `rate_limit="5/s"` does by itself and
nothing of alert-dispatch's own pacing. Celery keeps that limit as a token
bucket inside each worker instance, so N instances may send N times the rate.

Configured from environment variables, because the benchmark starts the
workers as separate processes (`celery -A bench.celery_baseline worker`):

* `BENCH_BROKER_URL`: the broker (kombu spelling, e.g. `redis+socket://...`).
* `BENCH_RATE`: messages per second per task, as Celery parses it (`5`, `2.5`).
* `BENCH_PLIVO_BASE_URL`, `BENCH_PLIVO_AUTH_ID`, `BENCH_PLIVO_AUTH_TOKEN`: the API.

Delivery settings match alert-dispatch's worker (late acks, prefetch 1), so
the only difference between the two measurements is how the rate is limited.
"""

from __future__ import annotations

import os
from functools import lru_cache

from celery import Celery

from shared.plivo.client import PlivoClient

TASK_NAME = "bench.send_sms"
QUEUE = "bench-baseline"

RATE = os.environ.get("BENCH_RATE", "5")

app = Celery("bench_baseline", broker=os.environ.get("BENCH_BROKER_URL", "memory://"))
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@lru_cache(maxsize=4)
def _client_for(pid: int) -> PlivoClient:
    """One client per process: prefork children must not share a pooled connection."""
    return PlivoClient(
        auth_id=os.environ["BENCH_PLIVO_AUTH_ID"],
        auth_token=os.environ["BENCH_PLIVO_AUTH_TOKEN"],
        base_url=os.environ["BENCH_PLIVO_BASE_URL"],
    )


@app.task(name=TASK_NAME, rate_limit=f"{RATE}/s")
def send_sms(src: str, dst: str, text: str) -> str:
    """Post one SMS and return its message uuid; failures raise and are only logged."""
    result = _client_for(os.getpid()).send_sms(src=src, dst=dst, text=text)
    return result.message_uuids[0] if result.message_uuids else ""
