"""bench/results/notices.md: the notice benchmark's figures, goals and ratios as markdown.

Rendering only: the figures come in (bench.notice_figures), the run's
context (machine, versions, commit, load) is read here when the file is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata

from bench.common import RESULTS_DIR, machine, source_state
from bench.notice_baseline_run import BaselineRun
from bench.notice_figures import (
    Check,
    EngineRun,
    Figures,
    all_met,
    goal_checks,
    ratio,
)

RESULTS_FILE = RESULTS_DIR / "notices.md"


@dataclass(frozen=True)
class Runs:
    ours: EngineRun
    baseline: BaselineRun | None
    reports: EngineRun | None


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MB"


def _times(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def _share(f: Figures) -> str:
    share = f.rate_share
    return "-" if share is None else f"{share * f.rate:.0f}/s ({share:.0%})"


def _page_latency(f: Figures) -> float | None:
    return f.page.latency_s if f.page else None


def _page_position(f: Figures) -> str:
    if f.page is None or f.page.position is None:
        return "-"
    return f"after {f.page.position:.0%} of the notice"


ROWS: tuple[tuple[str, Callable[[Figures], str], Callable[[Figures], float | None] | None], ...] = (
    ("recipients accepted by Plivo", lambda f: f"{f.accepted:,} of {f.recipients:,}", None),
    ("recipients accepted twice", lambda f: str(f.duplicates), None),
    ("due moment to first request", lambda f: _seconds(f.first_s), None),
    ("**due moment to last request accepted**", lambda f: _seconds(f.last_s), lambda f: f.last_s),
    ("achieved rate (share of the account's)", _share, None),
    ("requests carrying the notice", lambda f: f"{f.requests:,}", None),
    ("  median gap between them", lambda f: _ms(f.median_gap_s), None),
    ("  time in gaps of 100 ms or more", lambda f: _seconds(f.stalled_s), None),
    ("largest request (destinations)", lambda f: str(f.largest_request), None),
    ("busiest 1 s window (SMS, page included)", lambda f: str(f.busiest_second), None),
    ("busiest 5 s window (API requests accepted)", lambda f: str(f.busiest_api_window), None),
    ("API requests refused (429)", lambda f: f"{f.rejected:,}", None),
    ("**critical page: posted to Plivo request**", lambda f: _ms(_page_latency(f)), _page_latency),
    ("  page went", _page_position, None),
    ("**worker RSS, largest process**", lambda f: _mb(f.worker_rss), lambda f: f.worker_rss),
    ("worker RSS, whole worker (peak sum)", lambda f: _mb(f.worker_rss_total), None),
)


def table(runs: Runs) -> list[str]:
    """Figures by row; ratio = baseline / engine on lower-is-better rows."""
    heads = ["figure", "alert-dispatch notice (reports off)"]
    if runs.baseline:
        heads += ["one Celery task per SMS", "baseline / alert-dispatch"]
    if runs.reports:
        heads.append("alert-dispatch notice (reports on)")
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    ours = runs.ours.figures
    for title, show, value in ROWS:
        cells = [title, show(ours)]
        if runs.baseline:
            theirs = runs.baseline.figures
            cells.append(show(theirs))
            cells.append(_times(ratio(value(ours), value(theirs))) if value else "")
        if runs.reports:
            cells.append(show(runs.reports.figures))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _checks(title: str, checks: list[Check]) -> list[str]:
    verdict = "**meets every goal**" if all_met(checks) else "**misses a goal**"
    lines = [f"{title}: {verdict}", ""]
    lines += [f"- {'met' if c.met else 'MISSED'}: {c.goal}: {c.detail}" for c in checks]
    return [*lines, ""]


def context_lines(command: str, started: datetime) -> list[str]:
    from bench.suite import cpu_model, load_average, redis_version, short_source

    names = ("celery", "kombu", "redis", "flask", "werkzeug", "sqlalchemy", "psutil")
    versions = ", ".join(f"{n} {metadata.version(n)}" for n in names)
    return [
        f"- date: {started:%Y-%m-%d %H:%M} UTC",
        f"- machine: {machine()}; {cpu_model()}",
        f"- versions: {versions}, Redis {redis_version()} (embedded), SQLite",
        f"- source: {short_source(source_state())}",
        f"- command: `{command}`",
        f"- load average when written (1 / 5 / 15 min): {load_average()}",
    ]


PREAMBLE = (
    "# Maintenance notice benchmark (issue 12)",
    "",
    "A notice to every number of a CSV subscriber list in the on-call file, the account",
    "at the benchmark's rate, on real processes (`cli.stack.Stack`: embedded Redis, the",
    "receiver, one worker of `-c 4` as in the Procfile, beat; the simulator with Plivo's",
    "API limit of 300 requests per 5 s). Beat sends the notice when it falls due; a",
    "critical page is posted to `/api/v1/alerts` halfway through. The baseline is the same",
    "notice as one Celery task per SMS (`bench/notice_baseline.py`: Celery's `rate_limit`",
    "at the same rate, a 429 retried with backoff), a worker of the same concurrency, the",
    "same simulator, run after the engine's worker and beat are stopped. Every figure is",
    "read where Plivo would see it: the simulator's request log (or its messages); a bulk",
    "request counts each destination against the account's SMS rate. Windows are",
    "half-open, `[t, t + w)`. Written by `python -m bench.notices`.",
    "",
    "**The machine is shared with other work while these runs take place**: absolute",
    "figures move from run to run; the ratios of one run are what counts.",
    "",
)


def best_pace(figures: Figures) -> str:
    """What the engine's pacing allows at most, from its own constants and batch size."""
    from shared.notices.pacing import booked_units
    from shared.sending.limits import PACING_HEADROOM

    size = max(1, figures.largest_request)
    per_s = figures.rate * (1 - PACING_HEADROOM) * size / booked_units(size)
    return (
        f"- The engine paces {PACING_HEADROOM:.0%} under the account's rate and books "
        f"{booked_units(size)} slots per batch of {size}, leaving the rest to pages: at best "
        f"{per_s:.0f} SMS/s, {figures.recipients / per_s:.1f} s for {figures.recipients:,}. "
        "The gaps rows show where the rest went: a run of batches ends every 0.5 s and the "
        "next comes through the broker; on a busy machine every step takes longer."
    )


def render(runs: Runs, *, command: str, started: datetime) -> str:
    lines = [*PREAMBLE, *context_lines(command, started), "", *table(runs), ""]
    lines += [
        "The ratio column is baseline / alert-dispatch on lower-is-better figures: above 1x,"
        " alert-dispatch is that many times better; below 1x, worse. API windows are counted"
        " on the log's arrival stamps; the simulator's limiter counts each request a few ms"
        " later (after authentication), so a sender held at the limit can show 301.",
        "",
        best_pace(runs.ours.figures),
        "",
    ]
    lines += _checks(
        "alert-dispatch, delivery reports off (the goals)", goal_checks(runs.ours.figures)
    )
    if runs.baseline:
        b = runs.baseline
        lines += _checks("one Celery task per SMS, for comparison", goal_checks(b.figures))
        lines.append(
            f"- the baseline's scheduler took {b.enqueue_s:.1f} s to enqueue its tasks"
            + ("" if b.completed else "; it was cut off at its deadline before it finished")
            + "."
        )
    if runs.reports:
        r = runs.reports
        lines += [""] + _checks(
            "alert-dispatch, delivery reports on (for information)", goal_checks(r.figures)
        )
        applied = (
            _seconds(r.delivered_s)
            if r.delivered_s is not None
            else f"not within the run's deadline ({r.delivered or 0:,} of "
            f"{r.figures.recipients:,} applied)"
        )
        lines.append(
            f"- due moment to every delivery report applied: {applied}. "
            "With reports on, every SMS comes back as a signed callback through the receiver "
            "(the Stack's threaded development server) into the same two cores: this run is "
            "bound by the receiver, not the send path."
        )
    return "\n".join(lines) + "\n"
