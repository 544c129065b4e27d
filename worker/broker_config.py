"""Celery's broker: the Redis of REDIS_URL (the default) or RabbitMQ (BROKER_URL=amqp://).

Only the queues move to RabbitMQ: the rate limiter, the locks, the bundle
windows and the breaker stay in Redis (REDIS_URL) whichever broker is chosen.

On RabbitMQ the queues are quorum queues (replicated by Raft on a cluster,
they survive the loss of a node) and every publish waits for the broker's
confirm, so a page handed over is a page the broker has written down.

Priorities: our scale is Celery's Redis one, 0 first and 9 last, in steps
(worker.queues.PRIORITY_STEPS). RabbitMQ 4 quorum queues know two priorities,
normal (message priority 0-4) and high (5 and up), and serve high ones first
(about two for every normal one, so normal ones never starve). The first step
(a critical alert's first page, a hang-up) goes out as high, everything else
as normal; RabbitMQ 3 quorum queues ignore the priority and serve in order.

Countdowns (a send waiting up to 5 s for its rate-limit slot, a retry's
backoff; longer waits are kept in the database: worker.sending.come_back) use
Celery's native delayed delivery on quorum queues: the message waits in
RabbitMQ's delay queues, not in a worker's memory, which would hold the
worker's prefetch (static on quorum queues) until it was due. That needs
topic exchanges and whole seconds, so a wait shorter than a second goes to
the queue at once with its ETA and the worker holds it for that fraction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.core.redis_url import kombu_broker, scheme_of
from worker.queues import PRIORITY_STEPS, QUEUES, QUORUM_QUEUES, amqp_priority

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")
# Redis: a message taken by a worker that died comes back after this long.
VISIBILITY_TIMEOUT_S = 600
# RabbitMQ: a host that stopped answering is cut off after about this long, and
# its unacknowledged messages go back to the queue for the other hosts.
AMQP_HEARTBEAT_S = 15
# Below this, Celery's native delayed delivery cannot delay (it counts whole seconds).
NATIVE_DELAY_MIN_S = 1.0


def is_amqp(url: str | None) -> bool:
    return bool(url) and scheme_of(str(url)) in AMQP_SCHEMES


def broker_config(broker_url: str | None, redis_url: str) -> dict[str, Any]:
    """The broker part of the Celery configuration: BROKER_URL when set, else REDIS_URL."""
    if is_amqp(broker_url):
        return rabbitmq_config(str(broker_url))
    return redis_broker_config(broker_url or redis_url)


def redis_broker_config(redis_url: str) -> dict[str, Any]:
    """Priorities 0 (first) to 9, one list per step: see shared.notifications.priority.
    A worker reads every queue's priority-0 messages before any priority-3 one, so
    a critical first page overtakes a backlog of anything else."""
    url, options = kombu_broker(redis_url)
    return {
        "broker_url": url,
        "broker_transport_options": {
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "priority_steps": list(PRIORITY_STEPS),
            **options,
        },
        "task_default_priority": 6,
        "task_queues": QUEUES,
    }


def rabbitmq_config(broker_url: str) -> dict[str, Any]:
    """Quorum queues, publisher confirms, two priorities (this module's docstring)."""
    return {
        "broker_url": broker_url,
        "broker_transport_options": {"confirm_publish": True},
        "broker_heartbeat": AMQP_HEARTBEAT_S,
        # None: a message without a priority of its own is a normal one.
        "task_default_priority": None,
        "task_queues": QUORUM_QUEUES,
        "task_default_queue_type": "quorum",
        "worker_detect_quorum_queues": True,
        "broker_native_delayed_delivery_queue_type": "quorum",
    }


def amqp_send_options(
    countdown: float | None, options: dict[str, Any], now: datetime
) -> tuple[float | None, dict[str, Any]]:
    """(countdown, options) of one publish to RabbitMQ: the priority on RabbitMQ's scale,
    and a wait under a second carried as an ETA header instead of a countdown."""
    options = dict(options)
    if "priority" in options:
        options["priority"] = amqp_priority(options["priority"])
    if countdown is not None and 0 < countdown < NATIVE_DELAY_MIN_S:
        eta = (now.astimezone(UTC) + timedelta(seconds=countdown)).isoformat()
        options["headers"] = {**(options.get("headers") or {}), "eta": eta}
        countdown = None
    return countdown, options
