"""Queue names and which task goes where.

Separate queues let an operator give callbacks and first pages their own
workers, so a backlog of one kind never delays another.
"""

from __future__ import annotations

from kombu import Exchange, Queue

from worker import task_names

INGEST = "ingest"
NOTIFY = "notify"
CALLBACKS = "callbacks"

# Priorities 0 (first) to 9 in sub-queues per step (shared.notifications.priority);
# kombu's Redis transport keeps one list per step.
PRIORITY_STEPS = (0, 3, 6, 9)


def _queue(name: str) -> Queue:
    """A queue with its own direct exchange and key, so a message lands in exactly one queue."""
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


QUEUES = (_queue(INGEST), _queue(NOTIFY), _queue(CALLBACKS))

# RabbitMQ 4 quorum queues: message priority 0-4 is normal, 5 and up is high.
AMQP_NORMAL = 0
AMQP_HIGH = 5


def _quorum_queue(name: str) -> Queue:
    """A RabbitMQ quorum queue with its own topic exchange: Celery's native delayed
    delivery (countdowns on quorum queues) routes through topic exchanges only; the
    queue's own name is its routing key, so a message still lands in exactly one queue."""
    return Queue(
        name,
        Exchange(name, type="topic"),
        routing_key=name,
        queue_arguments={"x-queue-type": "quorum"},
    )


QUORUM_QUEUES = (_quorum_queue(INGEST), _quorum_queue(NOTIFY), _quorum_queue(CALLBACKS))


def amqp_priority(priority: int | None) -> int | None:
    """Our priority (0 first, in PRIORITY_STEPS) on RabbitMQ's two-level scale: the
    first step is high, every other one normal; None stays None (normal)."""
    if priority is None:
        return None
    return AMQP_HIGH if priority < PRIORITY_STEPS[1] else AMQP_NORMAL


ROUTES = {
    # Escalations are pages: the hand-over of due steps and the firing of each run
    # on the notify queue, never behind a storm's routing backlog
    # (worker.tasks.hand_over_steps). Named routes are matched before the patterns.
    task_names.HAND_OVER_STEPS: {"queue": NOTIFY, "routing_key": NOTIFY},
    task_names.FIRE_STEP: {"queue": NOTIFY, "routing_key": NOTIFY},
    "ingest.*": {"queue": INGEST, "routing_key": INGEST},
    "escalation.*": {"queue": INGEST, "routing_key": INGEST},
    "maintenance.*": {"queue": INGEST, "routing_key": INGEST},
    "notify.*": {"queue": NOTIFY, "routing_key": NOTIFY},
    "callbacks.*": {"queue": CALLBACKS, "routing_key": CALLBACKS},
    # Maintenance notices share the notify workers at the lowest priority
    # (NOTICE_PRIORITY), so a page waiting in the queue is always taken first.
    "notices.*": {"queue": NOTIFY, "routing_key": NOTIFY},
}

# The priority step of every notice task: after every page, retry and repeat.
NOTICE_PRIORITY = PRIORITY_STEPS[-1]
# The hand-over of due sends and steps (worker.tasks.hand_over_sends, hand_over_steps),
# and each step fired: before any page waiting in the queue.
HAND_OVER_PRIORITY = PRIORITY_STEPS[0]
