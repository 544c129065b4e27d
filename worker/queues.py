"""Queue names and which task goes where.

Separate queues let an operator give callbacks and first pages their own
workers, so a backlog of one kind never delays another.
"""

from __future__ import annotations

from kombu import Queue

INGEST = "ingest"
NOTIFY = "notify"
CALLBACKS = "callbacks"

QUEUES = (Queue(INGEST), Queue(NOTIFY), Queue(CALLBACKS))

ROUTES = {
    "ingest.*": {"queue": INGEST},
    "notify.*": {"queue": NOTIFY},
    "callbacks.*": {"queue": CALLBACKS},
    "maintenance.*": {"queue": INGEST},
}
