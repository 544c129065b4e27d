"""What the tick hands over: its time limits and each due send's priority, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.core.settings import Settings
from worker.sending.gate import MAX_COUNTDOWN_S, MAX_SPACING_SLEEP_S
from worker.sending.handover import (
    STUCK_SENDING_AFTER,
    DueSend,
    cutoffs,
    due_sends,
)

NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_limits_are_measured_back_from_now() -> None:
    limits = cutoffs(NOW, 90.0)
    assert limits.now == NOW
    assert limits.lost_before == NOW - timedelta(seconds=90)
    assert limits.unrouted_before == NOW - timedelta(seconds=10)
    assert limits.stuck_before == NOW - timedelta(seconds=60)
    assert limits.reconcile_before == NOW - timedelta(seconds=60)


def test_a_send_waiting_out_the_longest_countdown_is_not_taken_for_lost() -> None:
    lost_after_s = Settings.model_fields["requeue_lost_after_s"].default
    waiting_since = NOW - timedelta(seconds=MAX_COUNTDOWN_S)
    assert waiting_since > cutoffs(NOW, lost_after_s).lost_before


def test_a_send_in_its_request_is_not_taken_for_stuck() -> None:
    fields = Settings.model_fields
    longest_request_s = (
        fields["plivo_connect_timeout"].default
        + fields["plivo_read_timeout"].default
        + MAX_SPACING_SLEEP_S
    )
    assert NOW - timedelta(seconds=longest_request_s) > cutoffs(NOW, 90.0).stuck_before
    assert timedelta(seconds=longest_request_s) < STUCK_SENDING_AFTER


def test_a_critical_first_page_goes_before_repeats_and_warnings() -> None:
    sends = due_sends(
        [
            (1, "sms", "critical", 0, 0),
            (2, "voice", "critical", 1, 0),
            (3, "voice", "critical", 0, 1),
            (4, "sms", "warning", 0, 0),
        ]
    )
    assert sends[0] == DueSend(1, "sms", 0)
    assert [s.notification_id for s in sends] == [1, 2, 3, 4]
    assert sends[0].priority < min(s.priority for s in sends[1:])
    assert {s.channel for s in sends} == {"sms", "voice"}
