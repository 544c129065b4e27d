"""Which live calls of a closed alert to end, and how: pure, no database or network."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.notifications.live_calls import (
    FIRST_RECHECK_S,
    MAX_RECHECK_S,
    RECHECK_WINDOW_S,
    EndCall,
    Method,
    PlacedCall,
    calls_to_end,
    recheck_in,
)

CLOSED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

RINGING = PlacedCall(
    notification_id=1,
    state="queued",
    destination="+14155550101",
    provider="primary",
    request_uuid="req-1",
    call_uuid=None,
    alerts_open=False,
)


def test_a_ringing_call_is_cancelled_by_its_request_uuid() -> None:
    assert calls_to_end([RINGING], settled=()) == [
        EndCall(1, Method.CANCEL_REQUEST, "req-1", "primary", "+14155550101")
    ]


def test_an_answered_call_is_hung_up_by_its_call_uuid_at_the_account_that_placed_it() -> None:
    answered = replace(RINGING, state="sent", call_uuid="call-1", provider="backup")
    assert calls_to_end([answered], settled=()) == [
        EndCall(1, Method.HANG_UP, "call-1", "backup", "+14155550101")
    ]


@pytest.mark.parametrize("state", ["delivered", "undelivered", "failed", "cancelled", "pending"])
def test_calls_that_are_over_or_never_placed_are_left_alone(state: str) -> None:
    assert calls_to_end([replace(RINGING, state=state, call_uuid="call-1")], settled=()) == []


def test_a_call_still_needed_by_another_open_alert_of_its_bundle_goes_on() -> None:
    assert calls_to_end([replace(RINGING, alerts_open=True)], settled=()) == []


def test_the_call_the_acknowledgement_was_pressed_on_ends_by_itself() -> None:
    pressed = replace(RINGING, state="sent", call_uuid="call-1", acknowledged_on_it=True)
    assert calls_to_end([pressed], settled=()) == []
    assert recheck_in([pressed], ended=(), closed_at=CLOSED, now=CLOSED) is None


def test_a_call_in_flight_without_any_uuid_cannot_be_ended_yet() -> None:
    in_flight = replace(RINGING, state="sending", request_uuid=None)
    assert calls_to_end([in_flight], settled=()) == []


def test_a_request_uuid_learned_while_still_sending_is_enough_to_cancel() -> None:
    learned = replace(RINGING, state="sending")
    assert [e.method for e in calls_to_end([learned], settled=())] == [Method.CANCEL_REQUEST]


def test_settled_uuids_are_not_asked_again() -> None:
    answered = replace(RINGING, notification_id=2, state="sent", call_uuid="call-2")
    assert calls_to_end([RINGING, answered], settled={"req-1", "call-2"}) == []
    # Answered after its request was found over: the call uuid is new, so it is asked.
    assert [e.uuid for e in calls_to_end([answered], settled={"req-1"})] == ["call-2"]


def test_an_unknown_state_is_not_acted_on() -> None:
    assert calls_to_end([replace(RINGING, state="exploded")], settled=()) == []


def at(seconds: float) -> datetime:
    return CLOSED + timedelta(seconds=seconds)


def test_nothing_to_recheck_once_every_live_call_was_ended_by_us() -> None:
    answered = replace(RINGING, notification_id=2, call_uuid="call-2")
    assert (
        recheck_in([RINGING, answered], ended={"req-1", "call-2"}, closed_at=CLOSED, now=at(0.1))
        is None
    )


def test_calls_not_yet_ended_are_looked_at_again_soon_then_less_often() -> None:
    in_flight = replace(RINGING, state="sending", request_uuid=None)
    assert recheck_in([in_flight], ended=(), closed_at=CLOSED, now=at(0.1)) == FIRST_RECHECK_S
    later = recheck_in([in_flight], ended=(), closed_at=CLOSED, now=at(8))
    assert FIRST_RECHECK_S < later <= MAX_RECHECK_S
    assert recheck_in([in_flight], ended=(), closed_at=CLOSED, now=at(100)) == MAX_RECHECK_S


def test_rechecks_stop_when_the_close_is_old_or_the_call_is_over() -> None:
    assert recheck_in([RINGING], ended=(), closed_at=CLOSED, now=at(RECHECK_WINDOW_S)) is None
    over = replace(RINGING, state="undelivered")
    assert recheck_in([over], ended=(), closed_at=CLOSED, now=at(1)) is None
    needed = replace(RINGING, alerts_open=True)
    assert recheck_in([needed], ended=(), closed_at=CLOSED, now=at(1)) is None


def test_a_request_found_over_is_rechecked_while_its_call_may_still_be_answered() -> None:
    # 404 on the request uuid: the call may have been answered meanwhile; its
    # call uuid arrives with the answer callback.
    assert recheck_in([RINGING], ended=(), closed_at=CLOSED, now=at(0.5)) == FIRST_RECHECK_S
