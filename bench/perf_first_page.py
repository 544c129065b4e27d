"""Time to first page: from the alert's POST leaving the client to Plivo receiving the SMS.

Two loads, each on a fresh alert-dispatch and a fresh naive pager in turn:
40 alerts at 4 a second under the default limits, and 20 a second for 10 s
(5 s with --quick) with the account and sender limits raised. Each alert
pages its own number, so no person's cap or bundle window is involved and
every page is the first one of its alert.

The 4/s load's goal is a ratio at p50 and p95, and the 95th percentile of 40
pages is the third slowest: one run of each system gave 1.2x and 1.5x at p50,
and 1.0x and 1.5x at p95, an hour apart on one machine with the same code. So
it runs in STEADY_ROUNDS rounds of 40 alerts, the systems alternated
(A B B A A B: a drift of the machine weighs on both alike), each round on a
fresh system, and the rounds' pages are pooled (120 pages each); each round's
own ratio is in the notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

from bench import stats
from bench.event_log import stages_text
from bench.load import (
    Counted,
    alert_posters,
    count_pages,
    first_arrivals,
    offer,
    page_latencies,
    wait_for_pages,
)
from bench.perf_context import (
    RAISED_LIMIT,
    WARM_UP_ALERTS,
    Context,
    System,
    numbers,
    profiled,
    running,
    warm_up,
)
from bench.perf_report import Result, Row

NAME = "first-page"
STEADY_ALERTS = 40
STEADY_RATE = 4.0
STEADY_ROUNDS = 3  # (1 with --quick)
BURST_RATE = 20.0
# Goals of issue 16.
STEADY_RATIO_GOAL = 1.3
BURST_P99_GOAL_S = 0.100
POST_P99_GOAL_S = 0.050


@dataclass(frozen=True)
class FirstPages:
    """One load's outcome at the simulator and at the client."""

    latency: stats.Latency | None
    counted: Counted
    offered_rate: float
    post_latency: stats.Latency | None
    refused: int
    complete: bool
    latencies: tuple[float, ...] = ()  # each page's, for pooling rounds
    post_latencies: tuple[float, ...] = ()

    def latency_text(self) -> str:
        return self.latency.text() if self.latency else "no page arrived"

    def lost_twice(self) -> str:
        return f"{self.counted.lost} lost, {self.counted.twice} twice"


def measure(system: System, count: int, rate: float, *, threads: int, timeout: float) -> FirstPages:
    """Post `count` alerts at `rate`/s, each to its own number, and time their first pages."""
    keys = numbers(count)
    posts = offer(
        keys,
        alert_posters(system.web_url, system.api_token, "first page"),
        threads=threads,
        rate=rate,
    )
    sends, complete = wait_for_pages(system.simulator_url, keys, timeout)
    accepted = [p for p in posts if p.ok]
    span = (accepted[-1].sent_at - accepted[0].sent_at) if len(accepted) > 1 else 0.0
    latencies = tuple(page_latencies(posts, first_arrivals(sends)))
    post_latencies = tuple(p.latency_s for p in accepted)
    return FirstPages(
        latency=stats.latency(latencies),
        counted=count_pages(keys, sends),
        offered_rate=(len(accepted) - 1) / span if span > 0 else 0.0,
        post_latency=stats.latency(post_latencies),
        refused=len(posts) - len(accepted),
        complete=complete,
        latencies=latencies,
        post_latencies=post_latencies,
    )


def pooled(rounds: Sequence[FirstPages]) -> FirstPages:
    """Rounds of one load on one system as one: their pages and POSTs together."""
    latencies = tuple(x for r in rounds for x in r.latencies)
    post_latencies = tuple(x for r in rounds for x in r.post_latencies)
    counts = [r.counted for r in rounds]
    return FirstPages(
        latency=stats.latency(latencies),
        counted=Counted(*(sum(getattr(c, f.name) for c in counts) for f in fields(Counted))),
        offered_rate=sum(r.offered_rate for r in rounds) / len(rounds),
        post_latency=stats.latency(post_latencies),
        refused=sum(r.refused for r in rounds),
        complete=all(r.complete for r in rounds),
        latencies=latencies,
        post_latencies=post_latencies,
    )


def alternated(rounds: int) -> list[str]:
    """Pure: the order of `rounds` rounds of each system, A B B A A B ..., so a machine
    that speeds up or slows down during the run weighs on both alike."""
    order: list[str] = []
    for n in range(rounds):
        pair = ["project", "naive"] if n % 2 == 0 else ["naive", "project"]
        order += pair
    return order


def _one(
    ctx: Context, which: str, count: int, rate: float, raised: bool, stages: list[str]
) -> FirstPages:
    options = {"raised_limit": RAISED_LIMIT} if raised and which == "project" else {}
    tag = f"{rate:g}s"
    with running(ctx, NAME, which, **options) as system:
        warm_up(system)
        with profiled(ctx, system, f"{NAME}-{tag}"):
            result = measure(system, count, rate, threads=8, timeout=60 + count / rate)
        if which == "project":
            stages.append(f"{rate:g}/s: {stages_text(system.database_url, WARM_UP_ALERTS + 1)}")
    print(
        f"{NAME} {tag} {system.label}: {result.latency_text()}, {result.lost_twice()}", flush=True
    )
    return result


def steady_row(ours: FirstPages, naive: FirstPages) -> Row:
    p50 = stats.ratio(*(f.latency.p50 if f.latency else None for f in (ours, naive)))
    p95 = stats.ratio(*(f.latency.p95 if f.latency else None for f in (ours, naive)))
    met = (
        None
        if p50 is None or p95 is None
        else p50 <= STEADY_RATIO_GOAL and p95 <= STEADY_RATIO_GOAL
    )
    return Row(
        measure=f"time to first page, {ours.counted.expected} alerts at {STEADY_RATE:g}/s, "
        "each to its own person",
        project=ours.latency_text(),
        naive=naive.latency_text(),
        ratio=stats.latency_ratios(ours.latency, naive.latency),
        goal=f"<= {STEADY_RATIO_GOAL}x at p50 and p95",
        met=met,
    )


def burst_row(ours: FirstPages, naive: FirstPages) -> Row:
    return Row(
        measure=f"time to first page, {ours.counted.expected} alerts at {BURST_RATE:g}/s, "
        "account limit raised",
        project=ours.latency_text(),
        naive=naive.latency_text(),
        ratio=stats.latency_ratios(ours.latency, naive.latency),
        goal=f"p99 <= {stats.duration(BURST_P99_GOAL_S)}",
        met=None if ours.latency is None else ours.latency.p99 <= BURST_P99_GOAL_S,
    )


def post_row(ours: FirstPages, naive: FirstPages) -> Row:
    """POST latency while the receiver is below saturation (the 20/s load)."""
    return Row(
        measure=f"POST latency at {BURST_RATE:g}/s (below saturation)",
        project=_post(ours),
        naive=_post(naive),
        ratio=stats.latency_ratios(ours.post_latency, naive.post_latency),
        goal=f"p99 <= {stats.duration(POST_P99_GOAL_S)}",
        met=None if ours.post_latency is None else ours.post_latency.p99 <= POST_P99_GOAL_S,
    )


def run(ctx: Context) -> Result:
    burst = round(BURST_RATE * ctx.pick(10, 5))
    stages: list[str] = []
    rounds: dict[str, list[FirstPages]] = {"project": [], "naive": []}
    for which in alternated(ctx.pick(STEADY_ROUNDS, 1)):
        rounds[which].append(_one(ctx, which, STEADY_ALERTS, STEADY_RATE, False, stages))
    steady = {which: pooled(each) for which, each in rounds.items()}
    bursts = {w: _one(ctx, w, burst, BURST_RATE, True, stages) for w in ("project", "naive")}
    loads = {"4/s": steady, "20/s": bursts}
    lost_twice = "; ".join(f"{k}: {v['project'].lost_twice()}" for k, v in loads.items())
    naive_lost_twice = "; ".join(f"{k}: {v['naive'].lost_twice()}" for k, v in loads.items())
    no_loss = all(
        v["project"].counted.lost + v["project"].counted.twice == 0 for v in loads.values()
    )
    notes = [
        f"offered {k}: alert-dispatch {v['project'].offered_rate:.1f}/s, "
        f"naive {v['naive'].offered_rate:.1f}/s; POST latency alert-dispatch "
        f"{_post(v['project'])}, naive {_post(v['naive'])}"
        for k, v in loads.items()
    ]
    notes.append(
        f"4/s in {len(rounds['project'])} rounds of {STEADY_ALERTS} alerts, alternated, "
        "each round's ratio (p50 / p95): "
        + "; ".join(
            _round_ratio(ours, naive)
            for ours, naive in zip(rounds["project"], rounds["naive"], strict=True)
        )
    )
    notes.append(
        "alert-dispatch's event log, median per stage (accepted: stored by the receiver; "
        "planned: routed, step fired; sending: claimed by the sender; queued: Plivo answered): "
        + "; ".join(stages)
    )
    return Result(
        name=NAME,
        database=ctx.database,
        date=ctx.date(),
        command=ctx.command,
        rows=(
            steady_row(steady["project"], steady["naive"]),
            burst_row(bursts["project"], bursts["naive"]),
            post_row(bursts["project"], bursts["naive"]),
            Row("pages lost / sent twice", lost_twice, naive_lost_twice, "-", "0 / 0", no_loss),
        ),
        notes=tuple(notes),
    )


def _round_ratio(ours: FirstPages, naive: FirstPages) -> str:
    """One round's p50 and p95 ratio: `1.2x / 1.5x`."""
    return stats.latency_ratios(ours.latency, naive.latency, ("p50", "p95"), suffix="")


def _post(result: FirstPages) -> str:
    return result.post_latency.text() if result.post_latency else "-"
