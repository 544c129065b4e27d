"""What a call costs, as Plivo bills it: a per-minute rate, by the started minute.

One place for the price, so the hang-up callback (`BillDuration`, `BillRate`,
`TotalCost`) and the call's record (`bill_duration`, `total_rate`,
`total_amount`) always agree, and a test can work out what a call was charged
from its duration alone.
"""

from __future__ import annotations

import math

from simulator.formats import CALL_RATE, money

# Plivo bills calls in 60-second increments (a 61-second call is two minutes).
BILLING_INCREMENT_S = 60


def billed_seconds(duration_s: int) -> int:
    """The seconds billed for a call that lasted `duration_s` (0 when never answered)."""
    if duration_s <= 0:
        return 0
    return BILLING_INCREMENT_S * math.ceil(duration_s / BILLING_INCREMENT_S)


def call_cost(billed_s: int, rate: str = CALL_RATE) -> str:
    """`TotalCost` / `total_amount`: the per-minute `rate` times the billed minutes."""
    return money(float(rate) * billed_s / 60)
