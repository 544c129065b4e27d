"""Every task message carries the time it was published, for the queue-age gauge.

A Celery message says nothing of when it was sent, so a queue that stopped
moving cannot be told from one that is merely busy by its length alone: ten
messages waiting a second each is health, ten waiting ten minutes is an
outage. The receiver's /metrics reads this header from the oldest messages
of each queue (webhooks.live_gauges). Every process that publishes (the
receiver, the workers, beat, the bridge) sends through `worker.celery_app.app`,
which imports this module, so the handler is connected wherever tasks leave.
"""

from __future__ import annotations

import time
from typing import Any

from celery.signals import before_task_publish

PUBLISHED_AT_HEADER = "published_at"


def stamp(headers: dict[str, Any], now: float) -> None:
    """Put the publish time (epoch seconds) into a message's headers."""
    headers[PUBLISHED_AT_HEADER] = round(now, 3)


@before_task_publish.connect
def _stamp_publish_time(headers: dict[str, Any] | None = None, **_: object) -> None:
    if headers is not None:
        stamp(headers, time.time())
