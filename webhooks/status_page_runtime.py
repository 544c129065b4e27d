"""What the status page shows from Redis, the broker and the workers: how far the
account's rate limits are booked ahead, the primary account's circuit breaker,
the messages waiting in each queue (webhooks.queue_depths: Redis lists or
RabbitMQ queues), and which Celery workers answer.

Everything is read, nothing written: the limiter's slots come from its TAT keys
(`RateLimiter.tat_key`, the keys the send path books), compared with Redis's
own clock as the limiter does. The key subjects come from `SendLimits`, the one
definition the workers use. Every read has a short timeout and a failure is
shown as such: a status page must answer most when something is down.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import redis
from celery import Celery

from shared.core.embedded_redis import broker_url_for
from shared.core.phone import mask_numbers_in
from shared.core.redis_url import redis_from_url
from shared.core.settings import Settings
from shared.sending.breaker import open_until_key, state_at
from shared.sending.gcra import Limit
from shared.sending.limits import Checks, SendLimits
from shared.sending.rate_limiter import RateLimiter
from webhooks.queue_depths import BrokerUnavailable, queue_broker_url, queue_depths
from worker.sending.providers import PRIMARY

log = logging.getLogger(__name__)

REDIS_TIMEOUT_S = 1.0
# How long the page waits for workers to answer a broadcast. Celery waits this
# long whenever fewer workers answer than it was told to expect, so it is the
# page's price for asking; short, as workers on one broker answer in
# milliseconds.
WORKER_REPLY_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class LimitRow:
    """One rate limit: how far ahead its next free slot lies."""

    subject: str  # "account" or "sender +1*******00"
    limit: str
    interval_s: float
    booked_ahead_s: float
    sends_booked: int  # about how many sends wait for their slot
    penalty: float  # slowdown after a 429; 1.0 when none


@dataclass(frozen=True)
class BreakerView:
    state: str
    open_for_s: float | None  # until the next probe, while open
    backup_configured: bool


@dataclass(frozen=True)
class WorkerRow:
    name: str
    pid: int | None
    concurrency: int | None
    active: int | None
    tasks_run: int
    uptime_s: int | None


@dataclass(frozen=True)
class Runtime:
    """The Redis part (None and a reason when Redis did not answer), the queues (empty
    and a reason when the broker did not answer) and the workers."""

    limits: list[LimitRow] = field(default_factory=list)
    breaker: BreakerView | None = None
    queues: dict[str, int] = field(default_factory=dict)
    redis_error: str = ""
    queues_error: str = ""
    workers: list[WorkerRow] = field(default_factory=list)
    workers_error: str = ""


def limiter_checks(settings: Settings) -> Checks:
    """Every account and sender limit a page can book, each (subject, limit) once."""
    limits = SendLimits.from_settings(settings)
    account = settings.plivo_auth_id
    senders = (
        (settings.plivo_powerpack_uuid,)
        if settings.plivo_powerpack_uuid
        else settings.sender_numbers
    )
    checks: list[tuple[str, Limit]] = [
        *limits.call_checks(account, "", count_for_person=False),
        *limits.call_spacing_checks(account),
    ]
    for sender in senders:
        checks += limits.sms_checks(account, sender, "", count_for_person=False)
        checks += limits.sms_spacing_checks(account, sender)
    return list(dict.fromkeys(checks))


def _subject(key: str) -> str:
    """What the page calls a limiter subject: the account without its id, a sender masked."""
    kind, _, name = key.partition(":")
    return "account" if kind == "account" else mask_numbers_in(f"{kind} {name}")


def limit_rows(
    checks: Sequence[tuple[str, Limit]],
    tats_us: Sequence[bytes | str | None],
    penalties: Sequence[bytes | str | None],
    now_us: int,
) -> list[LimitRow]:
    """Pure: rows from each check's stored TAT and penalty, as of the limiter's clock."""
    rows = []
    for (key, limit), tat, penalty in zip(checks, tats_us, penalties, strict=True):
        ahead_s = max(0.0, (int(float(tat)) - now_us) / 1_000_000) if tat is not None else 0.0
        factor = max(1.0, float(penalty)) if penalty is not None else 1.0
        interval = limit.interval_s * factor
        rows.append(
            LimitRow(
                subject=_subject(key),
                limit=limit.name,
                interval_s=interval,
                booked_ahead_s=ahead_s,
                sends_booked=math.ceil(ahead_s / interval - 1e-9) if ahead_s else 0,
                penalty=factor,
            )
        )
    return rows


def breaker_view(open_until: bytes | str | None, now: float, *, backup: bool) -> BreakerView:
    """Pure: the primary account's breaker from its stored open-until time."""
    until = None if open_until is None else float(open_until)
    state = state_at(until, now)
    open_for = max(0.0, until - now) if until is not None and until > now else None
    return BreakerView(state=state.value, open_for_s=open_for, backup_configured=backup)


def read_redis(settings: Settings, redis_url: str) -> Runtime:
    """Limits and breaker in one round trip; redis_error when it failed."""
    checks = limiter_checks(settings)
    client = redis_from_url(
        redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )
    limiter = RateLimiter(client)
    try:
        pipe = client.pipeline(transaction=False)
        pipe.time()
        for key, limit in checks:
            pipe.get(limiter.tat_key(key, limit))
            pipe.get(limiter.penalty_key(key, limit))
        pipe.get(open_until_key(PRIMARY))
        (seconds, micros), *rest = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("status page: redis: %s", exc)
        return Runtime(redis_error=f"Redis did not answer: {type(exc).__name__}")
    finally:
        client.close()
    now_us = int(seconds) * 1_000_000 + int(micros)
    pairs, open_until = rest[: 2 * len(checks)], rest[2 * len(checks)]
    return Runtime(
        limits=limit_rows(checks, pairs[0::2], pairs[1::2], now_us),
        breaker=breaker_view(open_until, now_us / 1_000_000, backup=settings.has_backup_account),
    )


def read_queues(settings: Settings, redis_url: str) -> tuple[dict[str, int], str]:
    """Messages waiting per queue, from the broker whichever it is; and why not when it
    did not answer (said on the page the way a Redis failure is)."""
    try:
        return queue_depths(queue_broker_url(settings.broker_url, redis_url)), ""
    except BrokerUnavailable as exc:
        log.warning("status page: broker: %s", exc)
        return {}, f"The broker did not answer: {exc.kind}"


@lru_cache(maxsize=4)
def _probe(broker_url: str) -> Celery:
    """A bare Celery app on the receiver's broker: enough to broadcast and read replies."""
    return Celery("status-page", broker=broker_url, set_as_current=False)


def worker_rows(stats: dict[str, dict[str, Any]], active: dict[str, list[Any]]) -> list[WorkerRow]:
    """Pure: one row per worker from `inspect stats` and `inspect active` replies."""
    rows = []
    for name in sorted(stats):
        info = stats[name] or {}
        pool = info.get("pool") or {}
        rows.append(
            WorkerRow(
                name=name,
                pid=info.get("pid"),
                concurrency=pool.get("max-concurrency"),
                active=len(active[name]) if name in active else None,
                tasks_run=sum(int(n) for n in (info.get("total") or {}).values()),
                uptime_s=info.get("uptime"),
            )
        )
    return rows


def read_workers(broker_url: str) -> tuple[list[WorkerRow], str]:
    """The workers that answer a broadcast on the broker (Redis or RabbitMQ) within
    WORKER_REPLY_TIMEOUT_S; and why none could be asked. Asked only after the broker
    answered the queue reading: kombu retries a publish to a broker that is down
    without end, and the page must not hang."""
    control = _probe(broker_url_for(broker_url)).control
    try:
        stats = control.inspect(timeout=WORKER_REPLY_TIMEOUT_S).stats() or {}
        active: dict[str, list[Any]] = {}
        if stats:  # returns once those who answered stats answer this: no wait for stragglers
            inspect = control.inspect(timeout=2 * WORKER_REPLY_TIMEOUT_S, limit=len(stats))
            active = inspect.active() or {}
    except Exception as exc:  # whatever the transport raised: the rest of the page stands
        log.warning("status page: workers: %s", exc)
        return [], f"the workers could not be asked: {type(exc).__name__}"
    return worker_rows(stats, active), ""


def gather_runtime(settings: Settings, redis_url: str) -> Runtime:
    """Redis first: its clock is the limiter's, and the workers' replies take a while.
    The workers are asked on the broker only when it answered the queue reading."""
    runtime = read_redis(settings, redis_url)
    queues, queues_error = read_queues(settings, redis_url)
    runtime = replace(runtime, queues=queues, queues_error=queues_error)
    if queues_error:
        return replace(runtime, workers_error="the broker did not answer")
    workers, error = read_workers(queue_broker_url(settings.broker_url, redis_url))
    return replace(runtime, workers=workers, workers_error=error)
