"""A routing backlog kept standing: routings of the first priority waiting in the ingest queue.

A storm queues alerts for routing faster than the workers route them (an
Alertmanager body of 100 alerts is stored in milliseconds, each routed in
several). What must not wait behind such a backlog (a send kept for its
booked slot, a page whose worker died mid-request) is measured, and tested,
with one standing: these routings name alerts that do not exist, so each is
quick to run and keeps a worker busy, and the queue is topped up to `depth`
until the block ends.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import redis
from celery import Celery

from webhooks.queue_depths import priority_lists
from worker import task_names
from worker.broker_config import redis_broker_config
from worker.queues import INGEST, ROUTES

# Far above any alert id a benchmark or test creates.
FIRST_ID = 10_000_000
TOP_UP_EVERY_S = 0.05


class RoutingBacklog:
    """`with RoutingBacklog(redis_url) as backlog:` at least `depth` routings wait in the
    ingest queue of the Redis broker at `redis_url` (once `depth // 2` are, the block
    starts); `backlog.waiting()` says how many wait now. Emptied when the block ends."""

    def __init__(self, redis_url: str, depth: int = 1500, timeout_s: float = 30.0) -> None:
        self.depth = depth
        self._timeout_s = timeout_s
        self._client = redis.Redis.from_url(redis_url)
        self._producer = Celery("routing-backlog")
        self._producer.conf.update(**redis_broker_config(redis_url), task_routes=ROUTES)
        self._stop = threading.Event()
        self._filler = threading.Thread(target=self._keep_full, name="backlog", daemon=True)

    def waiting(self) -> int:
        return sum(int(self._client.llen(name)) for name in priority_lists(INGEST))

    def __enter__(self) -> RoutingBacklog:
        self._filler.start()
        deadline = time.monotonic() + self._timeout_s
        while self.waiting() < self.depth // 2:
            if time.monotonic() > deadline or not self._filler.is_alive():
                self.__exit__(None, None, None)
                raise RuntimeError(f"no routing backlog of {self.depth // 2} within the time")
            time.sleep(TOP_UP_EVERY_S)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._filler.join(timeout=10)
        self._client.delete(*priority_lists(INGEST))
        self._client.close()
        self._producer.close()

    def _keep_full(self) -> None:
        next_id = FIRST_ID
        while not self._stop.is_set():
            for _ in range(max(0, self.depth - self.waiting())):
                self._producer.send_task(task_names.DISPATCH_ALERT, args=[next_id], priority=0)
                next_id += 1
            self._stop.wait(TOP_UP_EVERY_S)
