"""The notice benchmark's counting and goals, on synthetic request logs: a wrong count
would pass or fail a notice for the wrong reason."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench.notice_figures import (
    Figures,
    Page,
    Request,
    all_met,
    api_times,
    busiest_window,
    gaps,
    goal_checks,
    goal_seconds,
    measure,
    message_requests,
    notice_position,
    page_arrival,
    ratio,
)

DUE = 1000.0


def entry(at: float, dst: str, status: int = 202, path: str = "/v1/Account/MA1/Message/"):
    return {"time": at, "method": "POST", "path": path, "status": status, "body": {"dst": dst}}


def test_a_bulk_request_weighs_its_destinations_and_windows_are_half_open() -> None:
    # 14 destinations every 30 ms: 34 requests start in [0, 1) (0.00 to 0.99).
    points = [(DUE + i * 0.03, 14) for i in range(100)]
    assert busiest_window(points, 1.0) == 34 * 14
    # Exactly one window apart: the second point is outside [t, t + 1).
    assert busiest_window([(0.0, 500), (1.0, 500)], 1.0) == 500
    assert busiest_window([(0.0, 500), (0.999, 1)], 1.0) == 501
    # Points at one instant arrive together.
    assert busiest_window([(5.0, 3), (5.0, 4), (9.0, 1)], 1.0) == 7
    assert busiest_window([], 1.0) == 0


def test_the_log_gives_each_message_request_its_numbers_and_ignores_the_rest() -> None:
    log = [
        entry(DUE + 2, "14155550001<14155550002"),
        {"time": DUE + 1, "method": "GET", "path": "/v1/Account/MA1/Message/", "status": 200},
        entry(DUE + 0.5, "+14155550003", status=429),
        {"time": DUE + 3, "method": "POST", "path": "/v1/Account/MA1/Call/", "status": 201},
    ]
    assert message_requests(log) == [
        Request(DUE + 0.5, ("14155550003",), 429),
        Request(DUE + 2, ("14155550001", "14155550002"), 202),
    ]
    assert api_times(log, accepted=True) == [DUE + 1, DUE + 2, DUE + 3]
    assert api_times(log, accepted=False) == [DUE + 0.5]


def sent(numbers: list[str], per_request: int, start: float, step: float) -> list[Request]:
    return [
        Request(start + k * step, tuple(numbers[i : i + per_request]), 202)
        for k, i in enumerate(range(0, len(numbers), per_request))
    ]


NUMBERS = [f"1415555{i:04d}" for i in range(1000)]


def run(requests: list[Request], **changes) -> Figures:
    options = {
        "recipients": NUMBERS,
        "rate": 100.0,
        "due_at": DUE,
        "api_accepted": [r.at for r in requests],
        "rejected": 0,
        "page": Page(DUE + 5.0, DUE + 5.2, 0.5),
        "rss": (100 * 2**20, 400 * 2**20),
    }
    return measure("ours", requests, **{**options, **changes})


def test_a_paced_notice_meets_every_goal() -> None:
    requests = sent(NUMBERS, 10, DUE + 1.0, 0.11)  # 10 every 110 ms: 91/s, 100 requests
    figures = run(requests)
    assert (figures.accepted, figures.duplicates, figures.lost, figures.requests) == (
        1000,
        0,
        0,
        100,
    )
    assert figures.first_s == pytest.approx(1.0)
    assert figures.last_s == pytest.approx(1.0 + 99 * 0.11)
    assert figures.largest_request == 10
    assert figures.busiest_second == 100  # 10 requests in any [t, t + 1)
    assert goal_seconds(1000, 100.0) == pytest.approx(12.5)
    assert goal_seconds(10_000, 500.0) == pytest.approx(25.0)
    checks = goal_checks(figures)
    assert all_met(checks), checks


def test_each_goal_fails_on_its_own_figure() -> None:
    good = run(sent(NUMBERS, 10, DUE + 1.0, 0.11))
    assert not all_met(goal_checks(replace(good, last_s=12.6)))  # slower than 80% of the rate
    assert not all_met(goal_checks(replace(good, last_s=None)))  # never finished
    assert not all_met(goal_checks(replace(good, accepted=999)))  # one lost
    assert not all_met(goal_checks(replace(good, duplicates=1)))  # one sent twice
    assert not all_met(goal_checks(replace(good, largest_request=1001)))
    assert not all_met(goal_checks(replace(good, busiest_second=101)))
    assert not all_met(goal_checks(replace(good, busiest_api_window=301)))
    assert not all_met(goal_checks(replace(good, rejected=1)))  # a 429
    assert not all_met(goal_checks(replace(good, page=Page(DUE, DUE + 1.01, 0.5))))
    assert not all_met(goal_checks(replace(good, page=Page(DUE, None, None))))
    assert not all_met(goal_checks(replace(good, page=None)))
    # Each change above fails exactly one goal.
    assert [sum(not c.met for c in goal_checks(replace(good, rejected=1)))] == [1]
    assert [sum(not c.met for c in goal_checks(replace(good, accepted=999)))] == [1]


def test_a_burst_over_the_account_rate_is_seen_even_inside_the_goal_time() -> None:
    # All 1,000 in two requests half a second apart: fast, but over 100 SMS in one second.
    figures = run(sent(NUMBERS, 500, DUE + 1.0, 0.5))
    assert figures.busiest_second == 1000
    failed = [c.goal for c in goal_checks(figures) if not c.met]
    assert failed == ["at most 100 SMS in any 1 s"]


def test_duplicates_and_losses_count_numbers_not_requests() -> None:
    requests = sent(NUMBERS[:990], 10, DUE + 1.0, 0.11)
    requests.append(Request(DUE + 20.0, tuple(NUMBERS[:5]), 202))  # five again
    requests.append(Request(DUE + 21.0, tuple(NUMBERS[990:]), 500))  # refused: not accepted
    figures = run(requests)
    assert (figures.accepted, figures.lost, figures.duplicates) == (990, 10, 5)
    assert figures.last_s == pytest.approx(20.0)


def test_the_page_is_found_and_placed_within_the_notice() -> None:
    requests = sent(NUMBERS, 10, DUE + 1.0, 0.11)
    requests.insert(50, Request(DUE + 6.45, ("16285550099",), 202))
    assert page_arrival(requests, "16285550099") == DUE + 6.45
    assert page_arrival(requests, "16285550098") is None
    assert notice_position(requests, NUMBERS, DUE + 6.45) == pytest.approx(0.5)
    figures = run(requests)
    assert figures.busiest_second == 101  # the page counts against the account too


def test_ratio_is_how_many_times_lower_ours_is() -> None:
    assert ratio(20.0, 200.0) == pytest.approx(10.0)
    assert ratio(None, 1.0) is None
    assert ratio(0.0, 1.0) is None
    assert Page(10.0, 10.25, 0.5).latency_s == pytest.approx(0.25)


def test_gaps_tell_pacing_from_stalls() -> None:
    times = [DUE + i * 0.035 for i in range(10)] + [DUE + 1.0 + i * 0.035 for i in range(10)]
    median, stalled = gaps(times)
    assert median == pytest.approx(0.035)
    assert stalled == pytest.approx(1.0 - 9 * 0.035)  # the one gap between the two runs
    assert gaps([DUE]) == (None, 0.0)
