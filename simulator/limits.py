"""Plivo's two kinds of limit: the API rejects (429), the senders queue.

A client must handle both, and they look nothing alike from outside: too many
API requests fail at once, while too many messages per second are accepted and
merely go out later. Both are per account; the simulator has one account.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class SlidingWindowLimiter:
    """At most `limit` accepted requests in any `window_s` seconds.

    Rejected requests are not counted, so a client that backs off gets its
    capacity back as the window slides.
    """

    def __init__(self, limit: int, window_s: float) -> None:
        self._limit = limit
        self._window_s = window_s
        self._accepted: deque[float] = deque()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        now = time.monotonic()
        with self._lock:
            while self._accepted and self._accepted[0] <= now - self._window_s:
                self._accepted.popleft()
            if len(self._accepted) >= self._limit:
                return False
            self._accepted.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._accepted.clear()


class Pacer:
    """Hands out send slots no closer than 1/rate apart, in arrival order."""

    def __init__(self, per_second: float) -> None:
        self._interval = 1.0 / per_second
        self._next_free = 0.0
        self._lock = threading.Lock()

    def reserve(self, earliest: float) -> float:
        """The monotonic time of the next free slot at or after `earliest`."""
        with self._lock:
            slot = max(earliest, self._next_free)
            self._next_free = slot + self._interval
            return slot

    def reset(self) -> None:
        with self._lock:
            self._next_free = 0.0
