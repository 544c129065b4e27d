"""Queue names and which task goes where.

Separate queues let an operator give callbacks and first pages their own
workers, so a backlog of one kind never delays another.
"""

from __future__ import annotations

from kombu import Exchange, Queue

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

ROUTES = {
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
