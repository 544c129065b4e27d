"""A circuit breaker shared by every worker, in Redis.

After `threshold` failures within `window_s` the circuit opens for `open_s`:
sends go to the backup account at once instead of each discovering the
outage with its own timeout. When the open time is over, one send (the
probe, chosen atomically) tries the primary again; success closes the
circuit, failure opens it for another period.
"""

from __future__ import annotations

import time
from enum import StrEnum

import redis


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"  # open time over: one probe may try


def state_at(open_until: float | None, now: float) -> BreakerState:
    """The state from the stored open-until time: none is closed; before it, open;
    after it, half-open (one probe may try)."""
    if open_until is None:
        return BreakerState.CLOSED
    return BreakerState.OPEN if now < open_until else BreakerState.HALF_OPEN


def open_until_key(name: str) -> str:
    return f"breaker:{name}:open_until"


class CircuitBreaker:
    def __init__(
        self,
        client: redis.Redis,
        name: str,
        *,
        threshold: int = 5,
        window_s: float = 30.0,
        open_s: float = 30.0,
        probe_s: float = 10.0,
    ) -> None:
        self._redis = client
        self.name = name
        self.threshold = threshold
        self.window_s = window_s
        self.open_s = open_s
        self.probe_s = probe_s
        self._failures = f"breaker:{name}:failures"
        self._open_until = open_until_key(name)
        self._probe = f"breaker:{name}:probe"

    def state(self, now: float | None = None) -> BreakerState:
        raw = self._redis.get(self._open_until)
        now = time.time() if now is None else now
        return state_at(None if raw is None else float(raw), now)

    def allow(self, now: float | None = None) -> bool:
        """May a request go to this provider now? In half-open, only the one probe."""
        state = self.state(now)
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        return bool(self._redis.set(self._probe, "1", nx=True, px=int(self.probe_s * 1000)))

    def record_failure(self, now: float | None = None) -> bool:
        """Count a failure; True when this one opened (or re-opened) the circuit."""
        now = time.time() if now is None else now
        if self.state(now) is BreakerState.HALF_OPEN:
            self._open(now)  # the probe failed
            return True
        failures = int(self._redis.incr(self._failures))
        if failures == 1:  # the window starts at the first failure (Redis 6 has no EXPIRE NX)
            self._redis.pexpire(self._failures, int(self.window_s * 1000))
        if failures >= self.threshold and self.state(now) is BreakerState.CLOSED:
            self._open(now)
            return True
        return False

    def record_success(self) -> bool:
        """A request succeeded; True when that closed an open circuit."""
        pipe = self._redis.pipeline()
        pipe.delete(self._failures)
        pipe.delete(self._open_until)
        pipe.delete(self._probe)
        return bool(pipe.execute()[1])

    def _open(self, now: float) -> None:
        pipe = self._redis.pipeline()
        pipe.set(self._open_until, repr(now + self.open_s), px=int(self.open_s * 10 * 1000))
        pipe.delete(self._failures)
        pipe.delete(self._probe)
        pipe.execute()
