"""What the tick hands over: its time limits and each due send's priority, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.core.settings import Settings
from worker.sending.gate import MAX_COUNTDOWN_S, MAX_SPACING_SLEEP_S
from worker.sending.handover import (
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


def test_absent_liveness_keys_count_only_once_redis_has_held_them_a_while():
    assert not settled(None, 1000.0)  # an empty Redis: nobody has renewed into it
    assert not settled(b"not a time", 1000.0)
    assert not settled(b"999.000", 1000.0)
    assert not settled(str(1000.0 - SETTLED_S + 0.1), 1000.0)
    assert settled(str(1000.0 - SETTLED_S), 1000.0)
