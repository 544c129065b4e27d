"""The performance suite's arithmetic on synthetic data: a wrong percentile or a ratio
read the wrong way round would pass or fail a goal of issue 16 for the wrong reason."""

from __future__ import annotations

import pytest

from bench import stats
from bench.load import Post, count_pages, first_arrivals, page_latencies
from bench.rate_limit import Send


def test_nearest_rank_percentiles_report_latencies_that_were_seen() -> None:
    values = [float(v) for v in range(1, 41)]  # 40 samples, as the 4/s first-page load takes
    assert stats.percentile(values, 50) == 20.0
    assert stats.percentile(values, 95) == 38.0
    assert stats.percentile(values, 99) == 40.0  # the largest of 40, not an interpolation
    assert stats.percentile([7.0], 99) == 7.0


def test_percentile_does_not_depend_on_order_and_refuses_nonsense() -> None:
    assert stats.percentile([3.0, 1.0, 2.0], 50) == 2.0
    with pytest.raises(ValueError):
        stats.percentile([], 50)
    with pytest.raises(ValueError):
        stats.percentile([1.0], 0)


def test_latency_summary_and_its_text() -> None:
    summary = stats.latency([0.016, 0.023, 0.051, 0.192])
    assert summary is not None
    assert (summary.count, summary.p50, summary.p99, summary.max) == (4, 0.023, 0.192, 0.192)
    assert summary.text() == "p50 23 ms, p95 192 ms, p99 192 ms"
    assert stats.latency([]) is None


def test_durations_rates_and_sizes_read_as_people_write_them() -> None:
    assert stats.duration(0.0514) == "51 ms"
    assert stats.duration(1.18) == "1,180 ms"
    assert stats.duration(97.43) == "97.4 s"
    assert stats.rate(86.4) == "86/s"
    assert stats.rate(2140.0) == "2,140/s"
    assert stats.rate(4.04) == "4.0/s"
    assert stats.megabytes(150 * 2**20) == "150 MB"


def test_ratio_is_ours_over_naive_and_says_which_way_is_better() -> None:
    slower = stats.ratio(0.051, 0.016)
    assert slower == pytest.approx(3.1875)
    assert stats.ratio_text(slower, lower_is_better=True) == "3.19x (worse)"
    fewer = stats.ratio(86.0, 216.0)
    assert stats.ratio_text(fewer, lower_is_better=False) == "0.40x (worse)"
    assert stats.ratio_text(2.5, lower_is_better=False) == "2.50x (better)"
    assert stats.ratio_text(0.5, lower_is_better=True) == "0.50x (better)"
    assert stats.ratio_text(1.001, lower_is_better=True) == "1.00x (same)"


def test_ratio_of_a_missing_or_zero_figure_is_unknown_not_infinite() -> None:
    assert stats.ratio(None, 1.0) is None
    assert stats.ratio(1.0, 0.0) is None
    assert stats.ratio_text(None, lower_is_better=True) == "-"


def test_latency_ratios_per_percentile() -> None:
    ours = stats.latency([0.051] * 10 + [0.146] * 9 + [0.192])
    naive = stats.latency([0.016] * 10 + [0.023] * 10)
    assert stats.latency_ratios(ours, naive) == "3.2x / 6.3x / 8.3x (lower is better)"
    assert stats.latency_ratios(ours, None) == "-"
    assert stats.latency_ratios(ours, naive, ("p50", "p95"), suffix="") == "3.2x / 6.3x"


def test_per_second_over_an_interval() -> None:
    assert stats.per_second(200, 10.0, 12.0) == 100.0
    assert stats.per_second(0, 10.0, 12.0) == 0.0
    assert stats.per_second(5, 10.0, 10.0) == 0.0


def test_first_page_latency_is_the_first_accepted_request_minus_the_post() -> None:
    sends = [
        Send(at=100.30, destination="14152000001", status=429),  # refused: not the page
        Send(at=100.40, destination="14152000001", status=202),
        Send(at=100.90, destination="14152000001", status=202),  # second page: not the first
        Send(at=100.25, destination="14152000002", status=202),
    ]
    arrivals = first_arrivals(sends)
    assert arrivals == {"14152000001": 100.40, "14152000002": 100.25}
    posts = [
        Post("+14152000001", sent_at=100.0, latency_s=0.02, ok=True),
        Post("+14152000002", sent_at=100.2, latency_s=0.02, ok=True),
        Post("+14152000003", sent_at=100.3, latency_s=0.02, ok=True),  # never paged
        Post("+14152000004", sent_at=100.3, latency_s=0.02, ok=False),  # refused
    ]
    assert page_latencies(posts, arrivals) == pytest.approx([0.40, 0.05])


def test_pages_counted_lost_and_twice_at_the_simulator() -> None:
    sends = [
        Send(1.0, "14152000001", 202),
        Send(2.0, "14152000001", 202),
        Send(1.5, "14152000002", 503),
        Send(1.6, "14159999999", 202),  # not one of ours
    ]
    counted = count_pages(["+14152000001", "+14152000002", "+14152000003"], sends)
    assert (counted.expected, counted.received, counted.lost, counted.twice) == (3, 2, 2, 1)


def test_event_log_stages_are_medians_between_each_alerts_first_events() -> None:
    from datetime import datetime, timedelta

    from bench.event_log import stage_medians

    t0 = datetime(2026, 12, 2, 6, 0, 0)
    rows: list[tuple[int, str, datetime | str]] = []
    for alert_id, hop_ms in ((1, 10), (2, 30), (3, 20)):
        rows += [
            (alert_id, "alert.accepted", t0),
            (alert_id, "notification.planned", t0 + timedelta(milliseconds=hop_ms)),
            (
                alert_id,
                "notification.sending",
                (t0 + timedelta(milliseconds=2 * hop_ms)).isoformat(),
            ),
            (alert_id, "notification.sending", t0 + timedelta(seconds=9)),  # a later retry
        ]
    medians = dict(stage_medians(rows))
    assert medians["accepted -> planned"] == pytest.approx(0.020)
    assert medians["planned -> sending"] == pytest.approx(0.020)
    assert "sending -> queued" not in medians  # no alert reached Plivo: no figure, not zero
