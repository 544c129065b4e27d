"""One Celery task per SMS: the baseline the notice benchmark compares the engine with.

What a notice looks like without a bulk path: the scheduler enqueues one task
per recipient, each task posts one `POST .../Message/` to Plivo (the same
simulator, the same account), paced by Celery's own `rate_limit` at the
account's rate. A 429 (over Plivo's API limit of 300 requests per 5 s) is
retried with Celery's exponential backoff and jitter, as a careful team
would write it; nothing is ever dropped. Delivery settings match
alert-dispatch's worker (late acks, prefetch 1).

Configured from environment variables, because the benchmark starts the
worker as its own process (`celery -A bench.notice_baseline worker`):

* `BENCH_BROKER_URL`: the broker (kombu spelling); `BENCH_REDIS_URL`: where
  the tasks count what Plivo accepted and refused (the benchmark reads them).
* `BENCH_RATE`: SMS per second, Celery's `rate_limit` for the task.
* `BENCH_PLIVO_BASE_URL`, `BENCH_PLIVO_AUTH_ID`, `BENCH_PLIVO_AUTH_TOKEN`: the API.
"""

from __future__ import annotations

import os
from functools import lru_cache

import redis
from celery import Celery

from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoRateLimited

TASK_NAME = "bench.notice_baseline.send_sms"
QUEUE = "bench-notice-baseline"
ACCEPTED_KEY = "bench:notice-baseline:accepted"
REFUSED_KEY = "bench:notice-baseline:refused"

RATE = os.environ.get("BENCH_RATE", "500")

app = Celery("notice_baseline", broker=os.environ.get("BENCH_BROKER_URL", "memory://"))
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


@lru_cache(maxsize=4)
def _counters_for(pid: int) -> redis.Redis:
    return redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


@app.task(
    name=TASK_NAME,
    rate_limit=f"{RATE}/s",
    autoretry_for=(PlivoRateLimited,),
    retry_backoff=1,
    retry_backoff_max=16,
    retry_jitter=True,
    max_retries=None,
)
def send_sms(src: str, dst: str, text: str) -> None:
    """Post one SMS; a 429 is counted and retried later (autoretry), never dropped."""
    counters = _counters_for(os.getpid())
    try:
        _client_for(os.getpid()).send_sms(src=src, dst=dst, text=text)
    except PlivoRateLimited:
        counters.incr(REFUSED_KEY)
        raise
    counters.incr(ACCEPTED_KEY)
