"""How many messages wait in each Celery queue, whatever the broker.

The receiver's /metrics (`alert_dispatch_queue_depth`) and the status page
both show it; this module is the one place that knows where to look.

- Redis (BROKER_URL unset, or another Redis): kombu keeps one list per
  priority step, so a queue's waiting messages are the sum of its lists'
  lengths, read in one round trip.
- RabbitMQ (BROKER_URL=amqp://): a passive queue declare answers a queue's
  ready messages (every priority of a quorum queue) without touching them,
  and without creating a queue that does not exist.

On both brokers "waiting" means not yet taken by a worker: a message a worker
holds unacknowledged is not counted, nor is a countdown (on RabbitMQ it sits
in the broker's delay queues, on Redis in a worker's memory) before it is due.

A queue RabbitMQ does not know yet (no worker or producer has declared it)
has nothing waiting: it counts 0, as a Redis list that does not exist does.
Every queue therefore always has its series, and a series that vanishes means
a scrape that failed, never an empty queue.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis
from amqp.exceptions import AMQPError
from kombu import Connection
from kombu.exceptions import KombuError

from shared.core.redis_url import redis_from_url
from worker.broker_config import is_amqp
from worker.queues import CALLBACKS, INGEST, NOTIFY, PRIORITY_STEPS

QUEUE_NAMES = (INGEST, NOTIFY, CALLBACKS)
# kombu's Redis transport keeps one list per priority step: the plain queue name
# for 0 and `<queue>\x06\x16<step>` for the others.
KOMBU_PRIORITY_SEP = "\x06\x16"
# Connect and read timeout of one reading: a scrape or a page load must stay short.
TIMEOUT_S = 1.0
# RabbitMQ's answer to a passive declare of a queue it does not have.
NOT_FOUND = 404


class BrokerUnavailable(Exception):
    """The broker did not answer. `kind` names the error for a page; the message
    adds its text for a log (neither carries the broker's URL or password)."""

    def __init__(self, error: BaseException) -> None:
        self.kind = type(error).__name__
        super().__init__(f"{self.kind}: {error}")


def priority_lists(queue: str, steps: Iterable[int] = PRIORITY_STEPS) -> list[str]:
    """The Redis lists that together hold `queue`'s waiting messages."""
    return [f"{queue}{KOMBU_PRIORITY_SEP}{step}" if step else queue for step in steps]


def queue_broker_url(broker_url: str | None, redis_url: str) -> str:
    """Where Celery's queues live: BROKER_URL when set, else the Redis of REDIS_URL
    (the choice worker.broker_config makes for the workers)."""
    return broker_url or redis_url


def queue_depths(broker_url: str) -> dict[str, int]:
    """Messages waiting in each of QUEUE_NAMES, in that order, read from the broker
    at `broker_url` (queue_broker_url); BrokerUnavailable when it did not answer."""
    try:
        if is_amqp(broker_url):
            return _amqp_depths(broker_url)
        return _redis_depths(broker_url)
    except (redis.RedisError, OSError, KombuError, AMQPError) as exc:
        raise BrokerUnavailable(exc) from exc


def _redis_depths(redis_url: str) -> dict[str, int]:
    """Every priority list of every queue, summed per queue, in one round trip."""
    client = redis_from_url(redis_url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in QUEUE_NAMES:
            for name in priority_lists(queue):
                pipe.llen(name)
        lengths = [int(n) for n in pipe.execute()]
    finally:
        client.close()
    per_queue = len(PRIORITY_STEPS)
    return {
        queue: sum(lengths[index * per_queue : (index + 1) * per_queue])
        for index, queue in enumerate(QUEUE_NAMES)
    }


def _amqp_depths(broker_url: str) -> dict[str, int]:
    """One passive declare per queue on one connection. The broker closes the channel
    that asked for a queue it does not have, so the next queue asks on a new one."""
    options = {"read_timeout": TIMEOUT_S, "write_timeout": TIMEOUT_S}
    with Connection(broker_url, connect_timeout=TIMEOUT_S, transport_options=options) as conn:
        # No retry: kombu's default would sleep between attempts, and a reading that
        # fails is shown as failed rather than waited for.
        conn.ensure_connection(max_retries=0)
        channel = conn.channel()
        depths: dict[str, int] = {}
        for queue in QUEUE_NAMES:
            try:
                depths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
            except conn.channel_errors as exc:
                if getattr(exc, "reply_code", None) != NOT_FOUND:
                    raise
                depths[queue] = 0
                channel = conn.channel()
        return depths
