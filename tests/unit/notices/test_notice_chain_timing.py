"""When a notice claim is past any request, and when a quiet send has no chain left."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.notices.chain_timing import (
    LONGEST_COUNTDOWN_S,
    RUN_FOR_S,
    TOUCH_EVERY,
    claim_timeout,
    hop,
    left_to_wait,
    stalled_after,
)
from worker.sending.gate import MAX_SPACING_SLEEP_S
from worker.sending.handover import stuck_sending_after


@pytest.mark.parametrize("longest_request_s", [3.0, 3.05 + 8.0])
def test_a_claim_is_stale_as_a_page_is_stuck_less_the_spacing_it_never_sleeps(
    longest_request_s: float,
) -> None:
    # A page may sleep for its spacing between its claim and its request; a notice
    # books its slots before the claim, so nothing lies between.
    page = stuck_sending_after(longest_request_s) - timedelta(seconds=MAX_SPACING_SLEEP_S)
    assert claim_timeout(longest_request_s) == page
    assert claim_timeout(1 + 2) == timedelta(seconds=4)


def test_a_live_chain_marks_its_send_more_often_than_beat_hands_it_over() -> None:
    """Worst case: every run is as long as a run can be, every wait the longest hop,
    and the send is marked only at a run's start once TOUCH_EVERY has passed."""
    timeout = claim_timeout(3.05 + 8.0)
    run = RUN_FOR_S + timeout.total_seconds()
    now = last_mark = 0.0
    longest_quiet = 0.0
    for _ in range(1000):
        if now - last_mark > TOUCH_EVERY.total_seconds():
            last_mark = now
        now += run  # the run, then its countdown in the broker
        longest_quiet = max(longest_quiet, now - last_mark)
        now += LONGEST_COUNTDOWN_S
        longest_quiet = max(longest_quiet, now - last_mark)
    assert longest_quiet < stalled_after(timeout).total_seconds()
    assert stalled_after(timeout) < timedelta(seconds=60)  # the former fixed hand-over


def test_a_long_wait_goes_in_hops_and_a_short_one_at_once() -> None:
    assert hop(2.0, 1000.0).countdown_s == 2.0 and hop(2.0, 1000.0).resume_at is None
    long = hop(60.0, 1000.0)
    assert long.countdown_s == LONGEST_COUNTDOWN_S and long.resume_at == 1060.0
    assert left_to_wait(long.resume_at, 1000.0 + LONGEST_COUNTDOWN_S) == 55.0
    assert left_to_wait(long.resume_at, 1061.0) == 0.0
    assert left_to_wait(None, 1000.0) == 0.0
