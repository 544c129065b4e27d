"""The first-page benchmark's steady load runs in rounds, the systems alternated, and
its figure pools every round's pages."""

from __future__ import annotations

from bench.load import Counted
from bench.perf_first_page import FirstPages, alternated, pooled
from bench.stats import latency


def _round(latencies: list[float], lost: int = 0) -> FirstPages:
    return FirstPages(
        latency=latency(latencies),
        counted=Counted(len(latencies) + lost, len(latencies), lost, 0),
        offered_rate=4.0,
        post_latency=latency([0.005] * len(latencies)),
        refused=0,
        complete=lost == 0,
        latencies=tuple(latencies),
        post_latencies=(0.005,) * len(latencies),
    )


def test_rounds_alternate_so_a_drift_weighs_on_both_systems_alike() -> None:
    assert alternated(3) == ["project", "naive", "naive", "project", "project", "naive"]
    assert alternated(1) == ["project", "naive"]


def test_the_pooled_figure_is_that_of_every_page_of_every_round() -> None:
    quick = [0.010] * 38 + [0.030, 0.030]  # alone, its 95th percentile is a slow page
    calm = [0.010] * 40
    both = pooled([_round(quick), _round(calm, lost=1)])
    assert both.latency is not None and both.latency.count == 80
    assert both.latency.p50 == 0.010 and both.latency.p95 == 0.010
    assert both.counted == Counted(expected=81, received=80, lost=1, twice=0)
    assert not both.complete and both.post_latency is not None and both.post_latency.count == 80
