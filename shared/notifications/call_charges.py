"""What a page call lasted and cost, from Plivo's hang-up callback.

Plivo's hang-up callback carries `Duration` (seconds answered), `BillDuration`
(seconds billed, in Plivo's increments), `BillRate` (per minute) and
`TotalCost`; the call's record (`GET /Call/{uuid}/`) has the same as
`bill_duration`, `total_rate` and `total_amount`. They are kept on the
notification that placed the call and counted per team (the escalation policy
the alert was routed to) and per source (the integration it came in by: api,
alertmanager, grafana, pagerduty), so a month's calls can be priced per team.

Pure: parameters in, a `CallCharge` out; a field that is missing or not a
number is left out rather than failing the hang-up, which must be applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

# Plivo prints amounts with five decimals; the column keeps as many.
CENTS: Final = Decimal("0.00001")
# Larger than any call's cost or length: a value past it is not Plivo's.
_MAX_AMOUNT: Final = Decimal("100000")
_MAX_SECONDS: Final = 10**7
NO_TEAM: Final = "none"


@dataclass(frozen=True)
class CallCharge:
    """A call's length and price as Plivo reported them at hang-up."""

    duration_s: int
    billed_s: int
    cost: Decimal  # in the account's currency (USD)


def _seconds(raw: str | None) -> int | None:
    text = (raw or "").strip()
    if not text.isascii() or not text.isdigit() or int(text) > _MAX_SECONDS:
        return None
    return int(text)


def _amount(raw: str | None) -> Decimal | None:
    try:
        value = Decimal((raw or "").strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value > _MAX_AMOUNT:
        return None
    return value.quantize(CENTS)


def charge_from(params: Mapping[str, str]) -> CallCharge | None:
    """The hang-up callback's charge; `TotalCost` when given, else `BillRate` (per
    minute) times the billed minutes. None when it carries none of them."""
    duration = _seconds(params.get("Duration"))
    billed = _seconds(params.get("BillDuration"))
    cost = _amount(params.get("TotalCost"))
    rate = _amount(params.get("BillRate"))
    if cost is None and rate is not None and billed is not None:
        cost = (rate * billed / 60).quantize(CENTS)
    if duration is None and billed is None and cost is None:
        return None
    return CallCharge(duration or 0, billed or 0, cost or Decimal(0))


def team_label(policy: str | None) -> str:
    """The `team` of the cost metrics: the alert's escalation policy (a name of the
    on-call file, so a small known set), or "none" for an alert routed nowhere."""
    return policy or NO_TEAM
