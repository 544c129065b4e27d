"""The shape of a dashboard as plain data, and the PromQL patterns its panels share.

Every query is plain PromQL with fixed 5-minute windows (no Grafana macros),
so the same text can be checked by promtool and run against a real
Prometheus by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WINDOW = "5m"


@dataclass(frozen=True)
class Query:
    """One PromQL target of a panel and how its series are named in the legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """One panel: a time series graph or a single-value stat."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: Literal["timeseries", "stat"] = "timeseries"
    width: int = 12
    height: int = 8


@dataclass(frozen=True)
class Row:
    """A titled band of panels: Grafana lays them out left to right under it."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Dashboard:
    """One provisioned dashboard; `uid` is stable so links and bookmarks keep working."""

    uid: str
    title: str
    description: str
    rows: tuple[Row, ...] = field(default_factory=tuple)

    def panels(self) -> list[Panel]:
        return [panel for row in self.rows for panel in row.panels]


def per_minute(series: str, by: str = "", selector: str = "") -> str:
    """Events a minute from a counter series, summed over every process (per label set `by`)."""
    grouping = f" by ({by}) " if by else ""
    return f"sum{grouping}(rate({series}{selector}[{WINDOW}])) * 60"


def quantile(q: float, histogram: str, by: str = "") -> str:
    """The `q` quantile of a histogram over every process, per label set `by`."""
    labels = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({labels}) (rate({histogram}_bucket[{WINDOW}])))"


def in_last_hour(series: str, by: str = "", selector: str = "") -> str:
    """Events in the last hour from a counter series, summed over every process."""
    grouping = f" by ({by}) " if by else ""
    return f"sum{grouping}(increase({series}{selector}[1h]))"


def p50_p95(histogram: str, by: str = "", legend: str = "") -> tuple[Query, ...]:
    """Median and 95th percentile side by side: the typical case and the bad one."""
    suffix = f" {legend}" if legend else ""
    return (
        Query(quantile(0.5, histogram, by), f"p50{suffix}"),
        Query(quantile(0.95, histogram, by), f"p95{suffix}"),
    )
