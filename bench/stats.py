"""The arithmetic of the performance suite: percentiles, ratios, and how figures read.

Pure functions only, so the numbers a results file prints can be checked on
synthetic data (tests/unit/bench/test_performance_stats.py) instead of trusted.

Conventions:

* Percentiles are nearest-rank: p99 of 40 samples is the largest one. With
  the small samples a benchmark takes (40 first pages), interpolating between
  samples would report a latency nobody saw.
* A ratio is always this project's figure divided by the naive pager's, so
  "3.2x" means three times the naive pager's value; whether that is better or
  worse depends on the measure (latency: lower is better; rate: higher).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100): the smallest value with at
    least q % of the values at or below it."""
    if not values:
        raise ValueError("no values")
    if not 0 < q <= 100:
        raise ValueError("q must be in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(q / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class Latency:
    """A latency distribution in seconds, as the results table shows it."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def text(self) -> str:
        """`p50 51 ms, p95 146 ms, p99 192 ms`."""
        return f"p50 {duration(self.p50)}, p95 {duration(self.p95)}, p99 {duration(self.p99)}"


def latency(values: Sequence[float]) -> Latency | None:
    """The distribution of `values` (seconds); None when there are none."""
    if not values:
        return None
    return Latency(
        count=len(values),
        p50=percentile(values, 50),
        p95=percentile(values, 95),
        p99=percentile(values, 99),
        max=max(values),
    )


def duration(seconds: float) -> str:
    """Milliseconds below 10 s (`51 ms`, `1,180 ms`), seconds above (`97.4 s`)."""
    if seconds < 10:
        return f"{seconds * 1000:,.0f} ms"
    return f"{seconds:,.1f} s"


def rate(per_second: float) -> str:
    """`86/s`, `2,140/s`; one decimal below 10."""
    if per_second < 10:
        return f"{per_second:.1f}/s"
    return f"{per_second:,.0f}/s"


def megabytes(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:,.0f} MB"


def ratio(ours: float | None, naive: float | None) -> float | None:
    """ours / naive; None when either is missing or the naive figure is zero."""
    if ours is None or naive is None or naive == 0:
        return None
    return ours / naive


def ratio_text(value: float | None, *, lower_is_better: bool) -> str:
    """`3.20x (worse)`, `0.85x (better)`, `1.00x (same)`; `-` when unknown."""
    if value is None or math.isnan(value):
        return "-"
    if math.isclose(value, 1.0, abs_tol=0.005):
        word = "same"
    elif (value < 1) == lower_is_better:
        word = "better"
    else:
        word = "worse"
    return f"{value:.2f}x ({word})"


def latency_ratios(
    ours: Latency | None,
    naive: Latency | None,
    percentiles: tuple[str, ...] = ("p50", "p95", "p99"),
    *,
    suffix: str = " (lower is better)",
) -> str:
    """The ratios of two distributions at `percentiles`: `3.2x / 6.3x / 8.3x`, then `suffix`."""
    if ours is None or naive is None:
        return "-"
    parts = []
    for name in percentiles:
        value = ratio(getattr(ours, name), getattr(naive, name))
        parts.append("-" if value is None else f"{value:.1f}x")
    return " / ".join(parts) + suffix


def per_second(count: int, started: float, ended: float) -> float:
    """count / elapsed; 0 for an empty or instantaneous interval."""
    elapsed = ended - started
    if count <= 0 or elapsed <= 0:
        return 0.0
    return count / elapsed
