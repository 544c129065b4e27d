"""The benchmark's window arithmetic, on synthetic times: a wrong count would
make the results table pass or fail a limiter for the wrong reason."""

from __future__ import annotations

import pytest

from bench.rate_limit import (
    Send,
    achieved_rate,
    destinations,
    fixed_window_counts,
    message_sends,
    shortest_gap,
    sliding_window_counts,
    summarize,
)


def paced(n: int, interval: float, start: float = 1000.0) -> list[float]:
    return [start + i * interval for i in range(n)]


def test_exact_pacing_fills_every_window_to_the_limit_and_no_further() -> None:
    times = paced(25, 0.2)  # 5/s for 5 s, binary-inexact interval on purpose
    assert fixed_window_counts(times) == [5, 5, 5, 5, 5]
    assert max(sliding_window_counts(times)) == 5
    assert achieved_rate(times) == pytest.approx(5.0)


def test_windows_are_half_open() -> None:
    # 0.0 and 1.0 are one window apart: never together in one window.
    assert sliding_window_counts([0.0, 1.0]) == [1, 1]
    assert fixed_window_counts([0.0, 1.0]) == [1, 1]
    assert sliding_window_counts([0.0, 0.999]) == [2, 1]


def test_one_late_request_shows_in_both_kinds_of_window() -> None:
    times = paced(10, 0.2, start=0.0)
    times[4] = 1.05  # due at 0.8, late into the next second, just ahead of the one due at 1.0
    assert fixed_window_counts(times) == [4, 6]
    assert max(sliding_window_counts(times)) == 6


def test_sliding_catches_a_burst_that_straddles_fixed_windows() -> None:
    times = [0.0, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]
    assert fixed_window_counts(times) == [4, 4]
    assert max(sliding_window_counts(times)) == 7


def test_fixed_windows_count_empty_seconds() -> None:
    assert fixed_window_counts([0.0, 2.5]) == [1, 0, 1]
    assert fixed_window_counts([]) == []


def test_rate_and_gap_of_degenerate_runs() -> None:
    assert achieved_rate([]) == 0.0
    assert achieved_rate([5.0]) == 0.0
    assert shortest_gap([3.0]) is None
    assert shortest_gap([1.0, 1.5, 1.6]) == pytest.approx(0.1)


def test_message_sends_keeps_only_sms_posts_in_time_order() -> None:
    log = [
        {"time": 2.0, "method": "POST", "path": "/v1/Account/MA/Message/",
         "body": {"dst": "14152000001"}, "status": 202},
        {"time": 1.0, "method": "POST", "path": "/v1/Account/MA/Message/",
         "body": {"dst": "14152000002<14152000003"}, "status": 429},
        {"time": 1.5, "method": "GET", "path": "/v1/Account/MA/Message/", "body": None},
        {"time": 1.7, "method": "POST", "path": "/v1/Account/MA/Call/", "body": {"to": "1"}},
    ]  # fmt: skip
    assert message_sends(log) == [
        Send(1.0, "14152000002", 429),
        Send(1.0, "14152000003", 429),
        Send(2.0, "14152000001", 202),
    ]


def test_summary_counts_duplicates_lost_and_rejections() -> None:
    expected = ["+14152000001", "+14152000002", "+14152000003"]
    sends = [
        Send(0.0, "14152000001", 202),
        Send(0.3, "14152000001", 202),
        Send(0.6, "14152000002", 500),
    ]
    summary = summarize("x", 5, expected, sends, completed=False)
    assert (summary.received, summary.duplicates, summary.lost, summary.rejected) == (3, 1, 1, 1)
    assert summary.sliding_max == 3 and summary.fixed_over == 0
    assert not summary.meets_goal  # a lost page fails whatever the pacing


def test_destinations_are_distinct_valid_numbers() -> None:
    numbers = destinations(300)
    assert len(set(numbers)) == 300
    assert all(n.startswith("+14152") and len(n) == 12 for n in numbers)
