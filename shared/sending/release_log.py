"""The last word before a request leaves: at most `count` requests released in any
`period_s`, counted over the releases themselves (a sliding log in Redis).

The gate (shared.sending.rate_limiter, GCRA) books each send a slot one
interval after the previous slot. Sends reach that slot late by a varying
amount (a busy worker, a countdown timer, the claim's commit), so requests
booked 206 ms apart may leave 30 ms apart. A second GCRA in front of the
request would space them again, but GCRA remembers one theoretical arrival
time: a send that left late pushes every later one back by the same amount,
at a rate that never catches up (both paces are equal), and in a long storm
that lateness only grows. This log instead remembers when the requests of the
last window actually left: a late one delays nobody unless `count` requests
already left in the window, and the log holds exactly what Plivo counts, "at
most 5 in any second".

A release is booked at the earliest time t >= now such that no window
(t - period, t] would then hold more than `count` releases: with the log's
releases e_1 <= ... <= e_m later than now - period, t = max(now, e_(m-count+1)
+ period) when m >= count. Every window holding t then holds at most the
count - 1 releases after e_(m-count+1), plus t. A request carrying several
messages (a bulk notice) costs one release per message: it waits until the
window holds at most count - cost of them, or for an empty one when it
carries more than the count (Plivo queues the excess; the requests after it
wait until its messages have left the window). One Lua script decides and
records for every limit of a call, all-or-nothing, on Redis's clock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from shared.sending.gcra import Limit, to_us
from shared.sending.rate_limiter import NOW_LUA

__all__ = ["Release", "ReleaseLog"]

PREFIX = "releases:"

# KEYS: one sorted set per limit (member: a release's token, score: its time in us).
# ARGV: now ("" for Redis server time), max_delay (negative: unbounded), token,
#       cost, then per limit its count and its window in us.
# Returns: {booked 0/1, delay, now}.
_SCRIPT = (
    NOW_LUA
    + """
local max_delay = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])
local slot = now
for i = 1, #KEYS do
  local count = tonumber(ARGV[3 + 2 * i])
  local window = tonumber(ARGV[4 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local m = redis.call('ZCARD', KEYS[i])
  local keep = math.max(0, count - cost)
  if m > keep then
    local index = m - keep - 1
    local oldest = redis.call('ZRANGE', KEYS[i], index, index, 'WITHSCORES')
    local earliest = tonumber(oldest[2]) + window
    if earliest > slot then slot = earliest end
  end
end
local delay = slot - now
if max_delay >= 0 and delay > max_delay then
  return {0, delay, now}
end
for i = 1, #KEYS do
  local window = tonumber(ARGV[4 + 2 * i])
  for unit = 1, cost do
    redis.call('ZADD', KEYS[i], slot, ARGV[3] .. ':' .. unit)
  end
  redis.call('PEXPIRE', KEYS[i], math.ceil((slot - now + window) / 1000) + 1)
end
return {1, delay, now}
"""
)


@dataclass(frozen=True)
class Release:
    """Outcome of `ReleaseLog.book`: when `booked`, the request may leave `delay_s`
    after `at` (Redis's clock) and is counted from then; when not, nothing was
    recorded, and `delay_s` is how far away the earliest release lay."""

    booked: bool
    delay_s: float
    at: float


class ReleaseLog:
    """Releases shared by every process that talks to the same Redis."""

    def __init__(self, redis_client: redis.Redis, prefix: str = PREFIX) -> None:
        self._script = redis_client.register_script(_SCRIPT)
        self._prefix = prefix

    def key(self, subject: str, limit: Limit) -> str:
        """The sorted set of one limit's releases for one subject (an account, a sender)."""
        return f"{self._prefix}{subject}:{limit.name}"

    def book(
        self,
        checks: Sequence[tuple[str, Limit]],
        *,
        max_delay_s: float | None = None,
        cost: int = 1,
        now: float | None = None,
    ) -> Release:
        """Record `cost` releases at the earliest time every limit allows them, or, when
        that lies more than `max_delay_s` ahead, record nothing. `now` replaces Redis's
        clock, for tests; leave it None so every host shares one clock."""
        if not checks:
            raise ValueError("nothing to check")
        if cost < 1:
            raise ValueError("cost must be at least 1")
        if max_delay_s is not None and max_delay_s < 0:
            raise ValueError("max_delay_s must not be negative")
        keys = [self.key(subject, limit) for subject, limit in checks]
        if len(set(keys)) != len(keys):
            raise ValueError("a limit is checked twice")
        args: list[str | int] = [
            "" if now is None else to_us(now),
            -1 if max_delay_s is None else to_us(max_delay_s),
            uuid.uuid4().hex,
            cost,
        ]
        for _subject, limit in checks:
            args += [limit.count, to_us(limit.period_s)]
        booked, delay, at = self._script(keys=keys, args=args)
        return Release(bool(booked), int(delay) / 1_000_000, int(at) / 1_000_000)
