"""A call's length and price read from Plivo's hang-up callback."""

from __future__ import annotations

from decimal import Decimal

from shared.notifications.call_charges import CallCharge, charge_from, team_label


def test_plivos_total_cost_and_durations_are_kept() -> None:
    charge = charge_from(
        {"Duration": "61", "BillDuration": "120", "BillRate": "0.00850", "TotalCost": "0.01700"}
    )
    assert charge == CallCharge(61, 120, Decimal("0.01700"))


def test_without_a_total_the_rate_times_the_billed_minutes() -> None:
    charge = charge_from({"Duration": "30", "BillDuration": "60", "BillRate": "0.0085"})
    assert charge == CallCharge(30, 60, Decimal("0.00850"))


def test_an_unanswered_call_costs_nothing_and_garbage_is_left_out() -> None:
    assert charge_from({"Duration": "0", "BillDuration": "0", "TotalCost": "0.00000"}) == (
        CallCharge(0, 0, Decimal(0))
    )
    assert charge_from({"Duration": "x", "TotalCost": "-1", "BillRate": "NaN"}) is None
    assert charge_from({"CallStatus": "busy"}) is None


def test_an_alert_routed_nowhere_is_counted_under_none() -> None:
    assert (team_label("payments"), team_label(None)) == ("payments", "none")
