"""A send's progress: counts per state and reason, and an ETA at the rate it goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.notices.progress import summarize

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_counts_remaining_and_eta() -> None:
    progress = summarize(
        {
            ("pending", None): 800,
            ("claimed", None): 100,
            ("handed_off", None): 50,
            ("delivered", None): 40,
            ("failed", None): 2,
            ("skipped", "opted_out"): 7,
            ("skipped", "cancelled"): 1,
        },
        rate_per_s=450,
        now=NOW,
    )
    assert progress.total == 1000
    assert progress.remaining == 900
    assert progress.handed_off == 90
    assert progress.skipped_by_reason == {"opted_out": 7, "cancelled": 1}
    assert progress.fraction_done == 0.1
    assert progress.eta == NOW + timedelta(seconds=2)


def test_a_finished_send_has_no_eta_and_every_state_is_listed() -> None:
    progress = summarize({("handed_off", None): 3}, rate_per_s=5, now=NOW)
    assert progress.eta is None
    assert progress.fraction_done == 1.0
    assert progress.by_state["pending"] == 0 and progress.by_state["skipped"] == 0


def test_no_rate_left_means_no_estimate() -> None:
    assert summarize({("pending", None): 3}, rate_per_s=0, now=NOW).eta is None
    assert summarize({}, rate_per_s=5, now=NOW).fraction_done == 1.0
