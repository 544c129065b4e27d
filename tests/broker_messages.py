"""The Celery messages waiting in the Redis broker, read as a worker would receive them."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import redis

from webhooks.queue_depths import priority_lists


@dataclass(frozen=True)
class QueuedTask:
    """One waiting task: its positional arguments and its message headers."""

    args: list[Any]
    headers: dict[str, Any]


def queued_tasks(client: redis.Redis, queue: str, task: str) -> list[QueuedTask]:
    """Every `task` message waiting in `queue`, across its priority lists."""
    found = []
    for name in priority_lists(queue):
        for raw in client.lrange(name, 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == task:
                args = json.loads(base64.b64decode(message["body"]))[0]
                found.append(QueuedTask(args, message["headers"]))
    return found
