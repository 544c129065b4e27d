"""What a send's next batch run does: send for one sender, wait, settle, or finish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.notices.batching import POLL_S, Step, next_run

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
TIMEOUT = timedelta(seconds=30)


def run(**overrides: Any):  # type: ignore[no-untyped-def]
    fields: dict[str, Any] = {
        "state": "sending",
        "has_text": True,
        "pending_by_sender": {"+14155550000": 10, "+14155550001": 5},
        "oldest_claim": None,
        "now": NOW,
        "claim_timeout": TIMEOUT,
        "turn": 0,
        "one_group": False,
    }
    return next_run(**{**fields, **overrides})


def test_senders_take_turns() -> None:
    assert (run().sender, run().pending) == ("+14155550000", 10)
    assert (run(turn=1).sender, run(turn=1).pending) == ("+14155550001", 5)
    assert run(turn=2).sender == "+14155550000"


def test_through_a_powerpack_every_row_is_one_group() -> None:
    chosen = run(one_group=True)
    assert (chosen.step, chosen.sender, chosen.pending) == (Step.SEND, None, 15)


def test_a_claim_older_than_any_request_is_settled_before_anything_is_sent() -> None:
    assert run(oldest_claim=NOW - TIMEOUT - timedelta(seconds=1)).step is Step.SETTLE


def test_a_claim_under_way_does_not_stop_other_rows() -> None:
    assert run(oldest_claim=NOW - timedelta(seconds=1)).step is Step.SEND


def test_only_claims_under_way_left_means_waiting_for_them() -> None:
    waiting = run(pending_by_sender={}, oldest_claim=NOW - timedelta(seconds=28))
    assert (waiting.step, waiting.wait_s) == (Step.WAIT, 2.0)
    assert run(pending_by_sender={}, oldest_claim=NOW).wait_s == POLL_S


def test_nothing_pending_nor_claimed_finishes_the_send() -> None:
    assert run(pending_by_sender={"+14155550000": 0}).step is Step.FINISH


def test_a_closed_send_does_nothing() -> None:
    for state in ("done", "cancelled", "missed"):
        assert run(state=state).step is Step.CLOSED
    assert run(has_text=False).step is Step.CLOSED


def test_a_send_with_nobody_to_text_finishes() -> None:
    assert run(has_text=False, pending_by_sender={}).step is Step.FINISH
