"""GCRA, the arithmetic of the rate limiter: limits and the decision, as pure functions.

GCRA (the generic cell rate algorithm) keeps one number per limit, the
"theoretical arrival time" (TAT): when the limit would be idle again if every
request so far had been spaced exactly at the limit's rate. That makes each
limit one small string key whose TTL is the time until it is idle, so idle keys
vanish on their own and an expired key means exactly the same as an absent one.

Semantics of `Limit(name, count, period_s, burst)`:

* Long-run rate is `count / period_s`; requests are spaced by the emission
  interval `period_s / count` once the burst is used up.
* `burst` is how many requests may go back to back from idle (default: `count`).
* Because this is a token bucket, a window of length `period_s` can hold up to
  `count + burst - 1` requests (a full burst, then the refills). `max_in_window`
  gives the exact bound for any window.

Two shapes cover alert-dispatch:

* Account pacing, `Limit("plivo-sms", 5, 1.0, burst=1)`: no burst at all, one
  SMS every 0.2 s, so no one-second window ever holds more than 5.
* A person's throttle, `Limit("sms-15m", 5, 900)`: five pages at once when an
  incident starts, then one every three minutes. When the number must be a
  hard cap on any window instead (GoAlert's "at most 5 per 15 minutes"), build
  it with `Limit.at_most("sms-15m", 5, 900)`, which trades long-run rate for
  that guarantee.

The decision itself runs as a Lua script in Redis (shared.sending.rate_limiter);
`plan` is the same decision in Python, so it can be reasoned about and tested
against the script on the same inputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """`count` requests per `period_s` seconds, up to `burst` back to back from idle.

    `name` is part of the Redis key and is what `blocked_by` reports, so keep it
    short and low-cardinality (fit for a metrics label): "plivo-sms", "sms-15m".
    """

    name: str
    count: int
    period_s: float
    burst: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a limit needs a name")
        if self.count < 1:
            raise ValueError(f"limit {self.name}: count must be at least 1")
        if not (self.period_s > 0 and math.isfinite(self.period_s)):
            raise ValueError(f"limit {self.name}: period_s must be a positive number")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"limit {self.name}: burst must be at least 1")

    @classmethod
    def at_most(cls, name: str, count: int, window_s: float, burst: int | None = None) -> Limit:
        """A limit that never lets more than `count` through in any `window_s` window.

        A plain `Limit(count, window_s)` can pass `count + burst - 1` in one
        window; a hard cap needs a slower refill: with `burst` requests allowed
        at once, only `count - burst + 1` more may refill per window. The
        default burst of `count` therefore refills one per window; a smaller
        burst buys a faster long-run rate under the same cap.
        """
        burst = count if burst is None else burst
        if not 1 <= burst <= count:
            raise ValueError(f"limit {name}: burst must be between 1 and count")
        return cls(name, count - burst + 1, window_s, burst)

    @property
    def max_burst(self) -> int:
        """Requests allowed back to back from idle."""
        return self.count if self.burst is None else self.burst

    @property
    def interval_s(self) -> float:
        """Spacing between requests once the burst is used up."""
        return self.period_s / self.count


def max_in_window(limit: Limit, window_s: float) -> int:
    """Most requests `limit` can ever let through inside any window [t, t + window_s).

    Requests i < j always satisfy t_j - t_i >= (j - i - (burst - 1)) * interval,
    so n requests span at least (n - burst) * interval, which must be < window_s.
    Used to state what a configuration really guarantees, and by the tests.
    """
    if window_s <= 0:
        return 0
    return math.ceil(window_s / limit.interval_s - 1e-9) + limit.max_burst - 1


@dataclass(frozen=True)
class Plan:
    """What the script decides for one call, in microseconds.

    `delay_us` is the wait until the slot, `binding` the index of the limit that
    set it (None when immediate), `new_tats_us` None when nothing is booked.
    """

    booked: bool
    delay_us: int
    binding: int | None
    new_tats_us: tuple[int, ...] | None


def to_us(seconds: float) -> int:
    """Seconds to the script's whole microseconds."""
    return round(seconds * 1_000_000)


def interval_us(limit: Limit, factor: float = 1.0) -> int:
    """The limit's spacing in whole microseconds, stretched by a penalty `factor`.

    Rounded up, so rounding can only make a limit slower, never faster than
    configured (the 1e-6 absorbs float noise such as 0.07 * 1e6 = 70000.00000000001).
    """
    base = max(1, math.ceil(limit.period_s * 1_000_000 / limit.count - 1e-6))
    return base if factor <= 1 else math.ceil(base * factor)


def plan(
    tats_us: Sequence[int | None],
    limits: Sequence[Limit],
    factors: Sequence[float],
    now_us: int,
    cost: int = 1,
    max_delay_us: int | None = 0,
) -> Plan:
    """The GCRA decision of the Lua script, in Python, for reasoning and testing.

    Must stay step-for-step identical to `rate_limiter._SCRIPT`; the tests run both on the
    same inputs. Time is in whole microseconds, so a thousand bookings in a row
    do not drift and "exactly on the slot" is exactly on it. `tats_us` are the
    stored TATs (None for absent keys), `factors` the penalty factors (1.0 when
    none), `max_delay_us` 0 for `acquire` and None for an unbounded `reserve`.

    A penalty stretches the interval but not the tolerance (which stays
    `(burst - 1) * interval` of the unpenalized limit), so slowing a limit down
    also shrinks its burst instead of briefly letting more through. The
    tolerance is never less than one request's own size, so a request always
    fits an idle limit eventually.

    Nothing is booked when the slot is more than `max_delay_us` away, or when
    it lies more than one interval past some limit's own earliest slot (that
    limit would sit idle until the slot; see the module docstring).
    """
    slot = now_us
    binding: int | None = None
    bases: list[int] = []
    intervals: list[int] = []
    earliests: list[int] = []
    for i, (tat, limit, factor) in enumerate(zip(tats_us, limits, factors, strict=True)):
        base_interval = interval_us(limit)
        interval = interval_us(limit, factor)
        tolerance = max((limit.max_burst - 1) * base_interval, (cost - 1) * interval)
        base = now_us if tat is None or tat < now_us else tat
        earliest = base + (cost - 1) * interval - tolerance
        if earliest > slot:
            slot = earliest
            binding = i
        bases.append(base)
        intervals.append(interval)
        earliests.append(max(earliest, now_us))
    delay = slot - now_us
    if max_delay_us is not None and delay > max_delay_us:
        return Plan(False, delay, binding, None)
    if any(slot - e > iv for e, iv in zip(earliests, intervals, strict=True)):
        return Plan(False, delay, binding, None)
    new_tats = tuple(max(b, slot) + cost * iv for b, iv in zip(bases, intervals, strict=True))
    return Plan(True, delay, binding, new_tats)
