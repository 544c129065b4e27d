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
    """One waiting task: its name, positional arguments, message headers and priority."""

    task: str
    args: list[Any]
    headers: dict[str, Any]
    priority: int | None


def queued_tasks(client: redis.Redis, queue: str, task: str) -> list[QueuedTask]:
    """Every `task` message waiting in `queue`, across its priority lists."""
    found = []
    for name in priority_lists(queue):
        for raw in client.lrange(name, 0, -1):
            queued = _task_message(raw)
            if queued is not None and queued.task == task:
                found.append(queued)
    return found


def queued_anywhere(client: redis.Redis, task: str | None = None) -> list[QueuedTask]:
    """Every task message waiting in any list of the broker's database (of `task` only,
    when given), in no particular order; lists that hold no task messages (the report
    inbox) are passed over."""
    found = []
    for key in client.scan_iter():
        if client.type(key) not in ("list", b"list"):
            continue
        for raw in client.lrange(key, 0, -1):
            queued = _task_message(raw)
            if queued is not None and (task is None or queued.task == task):
                found.append(queued)
    return found


def _task_message(raw: bytes | str) -> QueuedTask | None:
    """A Celery message (protocol 2) decoded; None for anything else."""
    try:
        message = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict) or "task" not in message.get("headers", {}):
        return None
    args = json.loads(base64.b64decode(message["body"]))[0]
    priority = message.get("properties", {}).get("priority")
    return QueuedTask(message["headers"]["task"], args, message["headers"], priority)
