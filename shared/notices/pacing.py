"""How big a notice's bulk request may be, and what it books: pages first, limits kept.

Pure. Every destination of a bulk request counts against the account's and
the sender's pace (shared.sending.limits: one slot per interval, no burst),
in the same Redis keys pages book, so pages and notices share one budget.

Three rules keep a notice out of a page's way and inside Plivo's limits:

* A batch takes only what is free now: it books with `acquire` (never a
  future slot), so a page already waiting for a slot always goes first.
* It books more time than it uses (`NOTICE_SHARE`): a page arriving after
  a batch waits at most that batch's span (16 destinations at 500 SMS/s is
  about 37 ms), and notices alone use about 91% of the rate.
* It is small enough that no one-second window ever holds more than the
  limit, whatever pages did just before it. A request of k destinations
  arrives all at once, so the window ending just after it may also hold a
  full second of pages paced under the limit: k can be at most the slack the
  pacing leaves in a second (`largest_batch`). That is 1 at 5 SMS/s (like a
  page) and 15 at 500 SMS/s; a 10,000-recipient notice never sits in Plivo's
  queue ahead of a page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from shared.sending.gcra import Limit, interval_us

# Notices book 1/NOTICE_SHARE of the slots they use: the rest is left for pages.
NOTICE_SHARE = 0.95
# Plivo takes at most this many destinations in one request.
MAX_BULK = 1000
# A refused batch asks again within these bounds (a page holding the slot is short).
MIN_WAIT_S = 0.005
MAX_WAIT_S = 2.0


def largest_batch(limit: Limit, per_second: float) -> int:
    """The most destinations one request may carry on `limit`, a no-burst pace under
    `per_second`, so that no one-second window holds more than `per_second`.

    Requests spaced on the pace and starting in one second occupy, all but the
    last, less than that second: at most ceil(1 s / interval) - 1 slots. The
    last may be a whole batch, so the batch is what is left of `per_second`,
    less one slot of margin for requests that arrive a little late.
    """
    slots_in_a_second = math.ceil(1_000_000 / interval_us(limit))
    return max(1, min(MAX_BULK, math.floor(per_second + 1e-9) - slots_in_a_second))


def booked_units(size: int, share: float = NOTICE_SHARE) -> int:
    """Slots a batch of `size` destinations books: more than it uses, leaving pages a share."""
    if size < 1:
        raise ValueError("a batch holds at least one destination")
    return math.ceil(size / share - 1e-9)


def with_burst(limit: Limit, burst: int) -> Limit:
    """The same pace (same name, hence the same Redis key) taking `burst` slots in one go.

    Booked from an idle limit only (`acquire`), it moves the limit's clock
    `burst` intervals ahead: the pace stays the same, the slots are taken at once.
    """
    return Limit(limit.name, limit.count, limit.period_s, burst=burst)


def batch_checks(checks: Sequence[tuple[str, Limit]], units: int) -> list[tuple[str, Limit]]:
    """The page gate's checks (account and sender) for `units` slots at once."""
    return [(key, with_burst(limit, units)) for key, limit in checks]


def next_batch_in(units: int, interval_s: float, elapsed_s: float) -> float:
    """Seconds until the slots booked by a batch are used up, counted from its booking."""
    return max(0.0, units * interval_s - elapsed_s)


def wait_after_refusal(retry_after_s: float) -> float:
    """How long a batch refused a slot waits before asking again."""
    return min(MAX_WAIT_S, max(MIN_WAIT_S, retry_after_s))
