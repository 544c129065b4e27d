"""What the tick hands over: its time limits and each due send's priority, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.core.settings import Settings
from worker.sending.gate import MAX_SPACING_SLEEP_S
from worker.sending.handover import (
    BROKER_HOLD_MAX_S,
    HANDOVER_LEAD_S,
    LATE_SLOT_S,
    DueSend,
    cutoffs,
    due_sends,
    stuck_sending_after,
)
from worker.sending.liveness import SETTLED_S, settled

NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_limits_are_measured_back_from_now() -> None:
    limits = cutoffs(NOW, 90.0)
    assert limits.now == NOW
    assert limits.lost_before == NOW - timedelta(seconds=90)
    assert limits.unrouted_before == NOW - timedelta(seconds=10)
    assert limits.stuck_before == NOW - timedelta(seconds=3.05 + 8.0 + 1.0 + 1.0)
    assert limits.reconcile_before == NOW - timedelta(seconds=60)


def test_a_send_waiting_out_the_longest_countdown_in_the_broker_is_not_taken_for_lost() -> None:
    lost_after_s = Settings.model_fields["requeue_lost_after_s"].default
    for longest_s in (BROKER_HOLD_MAX_S, HANDOVER_LEAD_S):
        waiting_since = NOW - timedelta(seconds=longest_s + 4.0)  # and 4 s in a queue
        assert waiting_since > cutoffs(NOW, lost_after_s).lost_before


def test_a_send_lost_with_its_worker_is_handed_over_within_15_seconds() -> None:
    """The recovery goal for a send a dead worker held before its claim (prefetched,
    or waiting out a countdown): handed over again within 15 s of the death, which
    came after it was handed to the broker, by a tick that runs every second."""
    lost_after_s = Settings.model_fields["requeue_lost_after_s"].default
    assert lost_after_s + 1.0 <= 15.0
    handed_over = NOW - timedelta(seconds=lost_after_s + 0.001)
    assert handed_over < cutoffs(NOW, lost_after_s).lost_before


def test_a_send_due_soon_is_handed_over_with_a_countdown_to_its_slot() -> None:
    due = NOW + timedelta(seconds=1.5)
    [send] = due_sends([(7, "sms", "critical", 0, 0, due, True)], NOW)
    assert send.countdown_s == 1.5
    assert send.slot_booked
    assert cutoffs(NOW, 12.0).hand_over_before == NOW + timedelta(seconds=HANDOVER_LEAD_S)


def test_a_slot_the_tick_reaches_late_is_let_go_and_booked_again() -> None:
    on_time, late = due_sends(
        [
            (1, "sms", "error", 0, 0, NOW - timedelta(seconds=LATE_SLOT_S), True),
            (2, "sms", "error", 0, 0, NOW - timedelta(seconds=LATE_SLOT_S + 0.1), True),
        ],
        NOW,
    )
    assert (on_time.slot_booked, on_time.countdown_s) == (True, 0.0)
    assert (late.slot_booked, late.countdown_s) == (False, 0.0)
    [unbooked] = due_sends([(3, "voice", "error", 0, 0, NOW, False)], NOW)
    assert not unbooked.slot_booked


def test_a_send_in_its_request_is_not_taken_for_stuck() -> None:
    fields = Settings.model_fields
    longest_request_s = (
        fields["plivo_connect_timeout"].default
        + fields["plivo_read_timeout"].default
        + MAX_SPACING_SLEEP_S
    )
    request_s = fields["plivo_connect_timeout"].default + fields["plivo_read_timeout"].default
    assert NOW - timedelta(seconds=longest_request_s) > cutoffs(NOW, 90.0, request_s).stuck_before


def test_a_longer_read_timeout_waits_longer_before_a_send_is_taken_for_stuck() -> None:
    claimed = NOW - timedelta(seconds=31.0)
    assert claimed > cutoffs(NOW, 90.0, longest_request_s=3.05 + 30.0).stuck_before


def test_a_send_whose_worker_died_is_taken_for_stuck_within_15_seconds() -> None:
    """The recovery goal: a page whose worker dies mid-request goes out again within
    15 s of the death, which happened after the claim."""
    claimed = NOW - timedelta(seconds=14.0)
    fields = Settings.model_fields
    request_s = fields["plivo_connect_timeout"].default + fields["plivo_read_timeout"].default
    assert claimed < cutoffs(NOW, 90.0, request_s).stuck_before
    assert stuck_sending_after(request_s) < timedelta(seconds=14.0)


def test_a_critical_first_page_goes_before_repeats_and_warnings() -> None:
    sends = due_sends(
        [
            (1, "sms", "critical", 0, 0, NOW, False),
            (2, "voice", "critical", 1, 0, NOW, False),
            (3, "voice", "critical", 0, 1, NOW, False),
            (4, "sms", "warning", 0, 0, NOW, False),
        ],
        NOW,
    )
    assert sends[0] == DueSend(1, "sms", 0)
    assert [s.notification_id for s in sends] == [1, 2, 3, 4]
    assert sends[0].priority < min(s.priority for s in sends[1:])
    assert {s.channel for s in sends} == {"sms", "voice"}


def test_absent_liveness_keys_count_only_once_redis_has_held_them_a_while():
    assert not settled(None, 1000.0)  # an empty Redis: nobody has renewed into it
    assert not settled(b"not a time", 1000.0)
    assert not settled(b"999.000", 1000.0)
    assert not settled(str(1000.0 - SETTLED_S + 0.1), 1000.0)
    assert settled(str(1000.0 - SETTLED_S), 1000.0)
