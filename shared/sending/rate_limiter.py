"""One rate limiter for every worker: GCRA in a single Redis Lua script.

Celery's `rate_limit` counts per worker instance, so ten workers send ten times
the rate Plivo allows (5 SMS and 2 calls per second per account) and carriers
flag the sending number. The state therefore lives in Redis, and every decision
is one atomic script call: no lock, no read-modify-write race between hosts,
one round trip.

The limits and the decision, as pure arithmetic, are in shared.sending.gcra
(with what `Limit(name, count, period_s, burst)` means); this module keeps
their state in Redis and runs the decision there.

`acquire` answers "now or not", for callers whose next step depends on the
answer rather than on a wait: a person's throttle, where a blocked page is
deferred, merged or dropped by policy, and anything synchronous such as a web
request that cannot sleep.

`reserve` books the next slot and returns the delay until it, so a send task
can be re-queued with that countdown and fire exactly on its slot instead of
polling; a booked slot is spent even if the task never runs, which only ever
makes the limiter slower, never faster. A limit has no memory of gaps (one TAT,
not a schedule), so booking a slot far ahead holds every limit in the call busy
until then. `reserve` therefore refuses, booking nothing, when the slot would
hold any limit idle for more than one of its intervals: a person throttled for
three minutes must not stall the account's pacing for everyone else. The
refusal carries the delay, so the task comes back exactly when it can book.

Several limits (account, person per 15 min, person per hour) are checked in
one call and are all-or-nothing: a page blocked by a person's throttle does not
burn the account's slot that another person's page could have used.

`reserve` may be made conditional on a guard key (`Guard`): set NX in the same
script, booking only if the key was free or already the caller's. A first page
opens its person's bundle window and books its slot this way, in one round trip.

All keys of one call must live on one Redis node (true of a single Redis; on a
cluster, put a common hash tag in the keys).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from shared.sending.gcra import Limit, interval_us, to_us

__all__ = [
    "DEFAULT_PREFIX",
    "NOW_LUA",
    "Decision",
    "Guard",
    "Limit",
    "RateLimiter",
    "Reservation",
]

DEFAULT_PREFIX = "ratelimit:"


@dataclass(frozen=True)
class Decision:
    """Outcome of `acquire`.

    `retry_after_s` is 0 when allowed; when blocked it is the wait until every
    failing limit would allow this request (the largest of their waits), valid
    if nobody else gets in first. `blocked_by` names that slowest limit.
    `at` is the limiter's clock at the decision (Redis server time unless `now`
    was passed), so callers on several hosts can compare decisions.
    """

    allowed: bool
    retry_after_s: float
    blocked_by: str | None
    at: float = 0.0


@dataclass(frozen=True)
class Reservation:
    """Outcome of `reserve`.

    When `booked`, the slot is taken: run the work `delay_s` seconds after `at`
    (e.g. a Celery countdown). `blocked_by` names the limit that set the slot
    (None when it is immediate). When not booked, nothing was consumed: the
    slot lay beyond `max_delay_s`, or booking it would have held another limit
    idle; `delay_s` is when to ask again and `blocked_by` the limit to blame.
    """

    booked: bool
    delay_s: float
    blocked_by: str | None
    at: float = 0.0
    # With a guard another owner held: nothing booked; the guard's remaining seconds.
    guard_held_s: float | None = None


@dataclass(frozen=True)
class Guard:
    """A key a booking is conditional on, checked in the same script (one round trip):
    set to `owner` for `ttl_ms` unless another owner holds it, and then nothing is
    booked. A person's bundle window is one (worker.sending.gate)."""

    key: str
    owner: str
    ttl_ms: int


# Time is whole microseconds throughout: exact in a double up to 2**53 (year 2255),
# and Redis returns Lua numbers as integers anyway.
# KEYS: per check, its TAT key then its penalty key; then, optionally, a guard key.
# ARGV: now ("" for Redis server time), cost, max_delay (negative: unbounded),
#       then per check its unpenalized interval and its burst;
#       then, with a guard key, the guard's owner and its time to live in ms.
# Returns: {booked 0/1, delay, binding index (0: none), now}, or
#          {-1, the guard's remaining ms, 0, now} when another owner holds the guard.
# The clock of a script: ARGV[1] in microseconds, or Redis server time when "", so
# every host compares times on one clock.
NOW_LUA = """
if redis.replicate_commands then redis.replicate_commands() end
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
"""

_SCRIPT = (
    NOW_LUA
    + """
local cost = tonumber(ARGV[2])
local max_delay = tonumber(ARGV[3])
local n = math.floor(#KEYS / 2)
if #KEYS > 2 * n then
  local guard = KEYS[#KEYS]
  local owner = ARGV[4 + 2 * n]
  if not redis.call('SET', guard, owner, 'NX', 'PX', ARGV[5 + 2 * n]) then
    if redis.call('GET', guard) ~= owner then
      return {-1, redis.call('PTTL', guard), 0, now}
    end
  end
end
local slot = now
local binding = 0
local bases = {}
local intervals = {}
local earliests = {}
for i = 1, n do
  local base_interval = tonumber(ARGV[2 + 2 * i])
  local burst = tonumber(ARGV[3 + 2 * i])
  local factor = tonumber(redis.call('GET', KEYS[2 * i]) or '1') or 1
  local interval = base_interval
  if factor > 1 then interval = math.ceil(base_interval * factor) end
  local tolerance = math.max((burst - 1) * base_interval, (cost - 1) * interval)
  local base = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '')
  if base == nil or base < now then base = now end
  local earliest = base + (cost - 1) * interval - tolerance
  if earliest > slot then
    slot = earliest
    binding = i
  end
  bases[i] = base
  intervals[i] = interval
  earliests[i] = math.max(earliest, now)
end
local delay = slot - now
local refuse = max_delay >= 0 and delay > max_delay
for i = 1, n do
  if slot - earliests[i] > intervals[i] then refuse = true end
end
if refuse then
  return {0, delay, binding, now}
end
for i = 1, n do
  local new_tat = math.max(bases[i], slot) + cost * intervals[i]
  local ttl_ms = math.ceil((new_tat - now) / 1000)
  redis.call('SET', KEYS[2 * i - 1], string.format('%.0f', new_tat), 'PX', ttl_ms)
end
return {1, delay, binding, now}
"""
)

# KEYS: the penalty key. ARGV: factor, duration in ms. Keeps the larger factor
# so a mild penalty cannot undo a severe one; every call restarts the duration.
_PENALIZE_SCRIPT = """
local factor = tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '1') or 1
if current > factor then factor = current end
redis.call('SET', KEYS[1], string.format('%.17g', factor), 'PX', ARGV[2])
return string.format('%.17g', factor)
"""


class RateLimiter:
    """Global limits shared by every process that talks to the same Redis.

    Cheap to build (it only registers the scripts, which are sent by SHA and
    re-sent if the server lost them); one per process is plenty.
    """

    def __init__(self, redis_client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> None:
        self._redis = redis_client
        self._prefix = prefix
        self._script = redis_client.register_script(_SCRIPT)
        self._penalize_script = redis_client.register_script(_PENALIZE_SCRIPT)

    def tat_key(self, key: str, limit: Limit) -> str:
        """Redis key holding the TAT; one per (key, limit name) so limits never share state."""
        return f"{self._prefix}{key}:{limit.name}"

    def penalty_key(self, key: str, limit: Limit) -> str:
        """Redis key holding the slowdown factor of `penalize`, if any."""
        return f"{self._prefix}{key}:{limit.name}:penalty"

    def acquire(
        self,
        checks: Sequence[tuple[str, Limit]],
        now: float | None = None,
        cost: int = 1,
    ) -> Decision:
        """Take `cost` units from every limit now, or from none of them.

        `checks` pairs a subject (e.g. "plivo:sms", "person:42:sms") with a
        limit. `now` replaces Redis server time, for tests; in production leave
        it None so every host shares one clock.
        """
        booked, delay, blocked_by, at = self._run(checks, now, cost, 0.0)
        if booked:
            return Decision(True, 0.0, None, at)
        return Decision(False, delay / 1_000_000, blocked_by, at)

    def reserve(
        self,
        checks: Sequence[tuple[str, Limit]],
        now: float | None = None,
        cost: int = 1,
        max_delay_s: float | None = None,
        guard: Guard | None = None,
    ) -> Reservation:
        """Book the earliest slot at which every limit allows `cost` units.

        Once the burst is spent every call books a later slot than the one
        before, so N tasks reserving at once get start times spaced exactly as
        the limits require, with no polling. Use it in send tasks; use
        `acquire` where waiting makes no sense.

        Books nothing when the slot is more than `max_delay_s` away (work that
        is pointless after a while, such as a page for an alert since
        resolved), or when the slot is set by a slow limit so far ahead that
        booking would hold a faster one idle (a throttled person stalling the
        account); either way, ask again after `delay_s`.
        """
        if max_delay_s is not None and max_delay_s < 0:
            raise ValueError("max_delay_s must not be negative")
        booked, delay, blocked_by, at = self._run(checks, now, cost, max_delay_s, guard)
        if booked < 0:  # the guard is another's: `delay` is its remaining milliseconds
            return Reservation(False, 0.0, None, at, guard_held_s=max(0.0, delay) / 1000)
        return Reservation(booked > 0, delay / 1_000_000, blocked_by, at)

    def penalize(self, key: str, limit: Limit, factor: float, duration_s: float) -> float:
        """Stretch `limit`'s spacing for `key` by `factor` for `duration_s` seconds.

        Meant for Plivo's 429: our idea of the account's rate was too generous
        (another sender on the account, a stricter carrier), so back off for a
        while and return to normal on our own when the key expires. Calls
        during a penalty keep the larger factor and restart the duration, so a
        run of 429s keeps the account slow until it has been quiet for
        `duration_s`. Returns the factor now in force.
        """
        if not (factor >= 1 and math.isfinite(factor)):
            raise ValueError("factor must be a number of at least 1")
        if not duration_s > 0:
            raise ValueError("duration_s must be positive")
        duration_ms = max(1, math.ceil(duration_s * 1000))
        result = self._penalize_script(
            keys=[self.penalty_key(key, limit)], args=[repr(float(factor)), duration_ms]
        )
        return float(result)

    def penalty(self, key: str, limit: Limit) -> float:
        """The slowdown factor in force for `key` and `limit` (1.0 when none), e.g. for metrics."""
        value = self._redis.get(self.penalty_key(key, limit))
        return 1.0 if value is None else max(1.0, float(value))

    def _run(
        self,
        checks: Sequence[tuple[str, Limit]],
        now: float | None,
        cost: int,
        max_delay_s: float | None,
        guard: Guard | None = None,
    ) -> tuple[int, int, str | None, float]:
        """(1 booked / 0 not / -1 guard held by another, the delay in microseconds
        or the guard's remaining milliseconds, the binding limit's name, the time)."""
        if not checks:
            raise ValueError("nothing to check")
        if cost < 1:
            raise ValueError("cost must be at least 1")
        keys: list[str] = []
        args: list[str | int] = [
            "" if now is None else to_us(now),
            cost,
            -1 if max_delay_s is None else to_us(max_delay_s),
        ]
        seen: set[str] = set()
        for key, limit in checks:
            if cost > limit.max_burst:
                # Could never be allowed: the request is bigger than the bucket.
                raise ValueError(f"cost {cost} exceeds the burst of limit {limit.name}")
            tat_key = self.tat_key(key, limit)
            if tat_key in seen:
                raise ValueError(f"limit {limit.name} on {key} is checked twice")
            seen.add(tat_key)
            keys += [tat_key, self.penalty_key(key, limit)]
            args += [interval_us(limit), limit.max_burst]
        if guard is not None:
            keys.append(guard.key)
            args += [guard.owner, guard.ttl_ms]
        booked, delay, binding, at = self._script(keys=keys, args=args)
        blocked_by = checks[int(binding) - 1][1].name if int(binding) else None
        return int(booked), int(delay), blocked_by, int(at) / 1_000_000
