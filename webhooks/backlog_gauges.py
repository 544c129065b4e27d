"""How long work waits, read from Redis at each scrape: the oldest task of each
queue, and how far ahead the account's send limits are booked.

Queue depth alone cannot tell a busy queue from a stuck one; the age of its
oldest message can. Each message carries its publish time (worker.publish_time);
kombu pushes on the left and workers pop from the right, so the oldest
messages of each priority list are at its right end, and a few of them are
read (a message with an ETA is not waiting before it: it waits since the later
of the two). Messages without the header (published by a process that
predates it) are ignored. These lists are the broker's: on RabbitMQ there is
no such reading (oldest_age_families).

The account limits book slots ahead (shared.sending.rate_limiter: one TAT per
limit); TAT minus now is how long a page asking now would wait for its slot.
It is computed against Redis's own clock, the one the limiter books with, in
the Redis of REDIS_URL whichever the broker is.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from shared.core.redis_url import redis_from_url
from shared.core.settings import Settings
from shared.sending.limits import SendLimits
from shared.sending.rate_limiter import Limit, RateLimiter
from worker.broker_config import is_amqp
from worker.publish_time import PUBLISHED_AT_HEADER

# Oldest messages read per priority list: enough to look past a few with a
# future ETA or without the header, small enough to keep a scrape cheap.
TAIL_WINDOW = 10

AccountLimits = Sequence[tuple[str, Limit]]


def waiting_since(raw: bytes | str) -> float | None:
    """When a queued message became runnable (epoch seconds): its publish time, or
    its ETA when later; None when it carries no publish time or is not a message."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    headers = message.get("headers") if isinstance(message, dict) else None
    if not isinstance(headers, dict):
        return None
    published = headers.get(PUBLISHED_AT_HEADER)
    if isinstance(published, bool) or not isinstance(published, int | float):
        return None
    eta = _eta_s(headers.get("eta"))
    return max(float(published), eta) if eta is not None else float(published)


def _eta_s(eta: object) -> float | None:
    if not isinstance(eta, str):
        return None
    try:
        return datetime.fromisoformat(eta).timestamp()
    except ValueError:
        return None


def oldest_age_s(messages: Iterable[bytes | str], now: float) -> float:
    """Seconds the longest-waiting of `messages` has waited at `now`; 0 for none."""
    ages = [now - since for since in map(waiting_since, messages) if since is not None]
    return max([0.0, *ages])


def booked_ahead_s(tat: bytes | str | None, now: float) -> float:
    """How far past `now` a limit is booked, from its stored TAT (whole microseconds)."""
    if tat is None:
        return 0.0
    try:
        return max(0.0, float(tat) / 1_000_000 - now)
    except ValueError:
        return 0.0


def account_limits(settings: Settings) -> list[tuple[str, Limit]]:
    """The (key, limit) pairs of the account-wide SMS and call limits, exactly as
    the send path books them (shared.sending.limits)."""
    limits = SendLimits.from_settings(settings)
    account = settings.plivo_auth_id
    checks = [
        *limits.sms_checks(account, "", "", count_for_person=False),
        *limits.call_checks(account, "", count_for_person=False),
    ]
    wanted = (limits.account_sms, limits.account_calls)
    return [(key, limit) for key, limit in checks if limit in wanted]


def oldest_age_families(broker_url: str, queues: dict[str, list[str]], now: float) -> list[Metric]:
    """Oldest task age per queue (`queues`: name -> its priority lists), read from the
    Redis broker at `broker_url` in one round trip; nothing on RabbitMQ.

    RabbitMQ tells how many messages a queue holds, but not what they carry: a
    message's headers (its publish time) can only be read by taking it off the
    queue (basic.get), which would hand it to this scrape instead of a worker
    and put it back at the end of the queue, out of its order. A gauge that
    reorders or delays pages to be read is worse than none, so on RabbitMQ the
    family is left out, silently (it is not a failure), and queue depth is the
    broker's backlog signal there.
    """
    if is_amqp(broker_url):
        return []
    client = redis_from_url(broker_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        pipe = client.pipeline(transaction=False)
        for lists in queues.values():
            for name in lists:
                pipe.lrange(name, -TAIL_WINDOW, -1)
        replies = pipe.execute()
    finally:
        client.close()
    ages = GaugeMetricFamily(
        "alert_dispatch_queue_oldest_task_age_seconds",
        "How long the oldest runnable message of each Celery queue has waited, every "
        "priority (read at scrape; 0 when none waits).",
        labels=["queue"],
    )
    position = 0
    for queue, lists in queues.items():
        tails = [
            message for reply in replies[position : position + len(lists)] for message in reply
        ]
        position += len(lists)
        ages.add_metric([queue], oldest_age_s(tails, now))
    return [ages]


def limiter_delay_families(redis_url: str, limits: AccountLimits) -> list[Metric]:
    """The booked-ahead delay of each limit in `limits`, read from the Redis of
    REDIS_URL (the limiter's, whichever the broker is) by its own clock."""
    if not limits:
        return []
    client = redis_from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        tat_keys = [RateLimiter(client).tat_key(key, limit) for key, limit in limits]
        pipe = client.pipeline(transaction=False)
        for key in tat_keys:
            pipe.get(key)
        pipe.time()
        *tats, (seconds, micros) = pipe.execute()
    finally:
        client.close()
    delays = GaugeMetricFamily(
        "alert_dispatch_limiter_delay_seconds",
        "How long a page asking now would wait for its slot under each account-wide "
        "send limit (read at scrape; 0 when the limit is free).",
        labels=["limit"],
    )
    redis_now = int(seconds) + int(micros) / 1_000_000
    for (_key, limit), tat in zip(limits, tats, strict=True):
        delays.add_metric([limit.name], booked_ahead_s(tat, redis_now))
    return [delays]
