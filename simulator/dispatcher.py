"""Runs simulated events at their time, in order per message or call.

Plivo's callbacks for one message must be able to arrive in order (queued,
sent, delivered) even when the receiver is slow, while a slow receiver for one
message must not hold up every other message. So work is scheduled on a timer
thread and run on a small pool, with one "lane" per message or call: a lane
runs one task at a time, in due-time order; different lanes run in parallel.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

Task = Callable[[], None]


class Dispatcher:
    """A timer thread plus worker pool; `stop()` ends both."""

    def __init__(self, workers: int = 16) -> None:
        self._heap: list[tuple[float, int, str, Task]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._waiting: dict[str, deque[Task]] = {}
        self._busy: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sim-callback")
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sim-dispatcher", daemon=True)
        self._thread.start()

    def schedule(self, at: float, lane: str, task: Task) -> None:
        """Run `task` at monotonic time `at`, after earlier tasks of the same lane."""
        with self._cond:
            if self.stopping.is_set():
                return
            heapq.heappush(self._heap, (at, next(self._counter), lane, task))
            self._cond.notify()

    def pending(self) -> int:
        """Tasks scheduled, waiting for their lane, or running: 0 means quiet."""
        with self._cond:
            return len(self._heap) + sum(map(len, self._waiting.values())) + len(self._busy)

    def clear(self) -> None:
        """Forget everything not yet running (used by reset)."""
        with self._cond:
            self._heap.clear()
            self._waiting.clear()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the timer, drop queued work, and wait for running tasks to finish."""
        with self._cond:
            self.stopping.set()
            self._heap.clear()
            self._waiting.clear()
            self._cond.notify_all()
        self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        with self._cond:
            while not self.stopping.is_set():
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                _, _, lane, task = heapq.heappop(self._heap)
                if lane in self._busy:
                    self._waiting.setdefault(lane, deque()).append(task)
                else:
                    self._busy.add(lane)
                    self._pool.submit(self._execute, lane, task)

    def _execute(self, lane: str, task: Task) -> None:
        while True:
            if not self.stopping.is_set():
                try:
                    task()
                except Exception:
                    log.exception("simulated event failed (lane %s)", lane)
            with self._cond:
                queue = self._waiting.get(lane)
                if not queue or self.stopping.is_set():
                    self._waiting.pop(lane, None)
                    self._busy.discard(lane)
                    return
                task = queue.popleft()
