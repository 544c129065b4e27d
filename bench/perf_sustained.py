"""Sustained load: 100 alerts a second for 60 s (10 s with --quick), on PostgreSQL.

Each alert pages its own number, the account and sender limits are raised,
and everything (both systems in turn, the simulator, PostgreSQL and the
client) shares this machine's cores. Counted at the simulator: time to
first page, and every number paged exactly once (0 lost, 0 twice). Always on
PostgreSQL, whatever `--db` says: that is the deployment this load is for.
"""

from __future__ import annotations

from bench import stats
from bench.cpu_use import CpuUse, measuring
from bench.databases import POSTGRESQL
from bench.perf_context import RAISED_LIMIT, Context, profiled, running, warm_up
from bench.perf_first_page import FirstPages, measure
from bench.perf_report import Result, Row

NAME = "sustained"
RATE = 100.0
# Enough client threads to keep offering 100/s while each POST takes up to ~0.6 s.
THREADS = 64
P99_GOAL_S = 1.0


def _one(ctx: Context, which: str, count: int) -> tuple[FirstPages, CpuUse]:
    options = {"raised_limit": RAISED_LIMIT} if which == "project" else {}
    with running(ctx, NAME, which, database=POSTGRESQL, **options) as system:
        warm_up(system)
        with profiled(ctx, system, NAME), measuring(system.web_pid(), system.worker_pid()) as cpu:
            result = measure(system, count, RATE, threads=THREADS, timeout=120 + count / 8)
    print(
        f"{NAME} {system.label}: {result.latency_text()}, {result.lost_twice()}; "
        f"CPU per alert: {cpu[0].per_item_text(count)}",
        flush=True,
    )
    return result, cpu[0]


def rows(
    ours: FirstPages,
    naive: FirstPages,
    seconds: int,
    cpu: tuple[CpuUse, CpuUse] | None = None,
) -> tuple[Row, ...]:
    """The table's rows; `cpu`: each system's CPU over its measurement (ours, naive)."""
    cpu_rows = ()
    if cpu is not None:
        count = round(RATE * seconds)
        cpu_rows = (
            Row(
                "  CPU per alert from the first POST to the last page, by process tree (ms)",
                cpu[0].per_item_text(count),
                cpu[1].per_item_text(count),
            ),
        )
    return (*_latency_rows(ours, naive, seconds), *cpu_rows)


def _latency_rows(ours: FirstPages, naive: FirstPages, seconds: int) -> tuple[Row, ...]:
    return (
        Row(
            f"time to first page, {RATE:g} alerts/s for {seconds} s, each to its own person, "
            "limits raised",
            ours.latency_text(),
            naive.latency_text(),
            stats.latency_ratios(ours.latency, naive.latency),
            f"p99 <= {stats.duration(P99_GOAL_S)}",
            None if ours.latency is None else ours.latency.p99 <= P99_GOAL_S,
        ),
        Row(
            "pages lost / sent twice (counted at the simulator)",
            ours.lost_twice(),
            naive.lost_twice(),
            "-",
            "0 / 0",
            ours.counted.lost == 0 and ours.counted.twice == 0,
        ),
        Row(
            "  rate offered (client threads kept the schedule?) / POST latency",
            f"{ours.offered_rate:.1f}/s; {_post(ours)}",
            f"{naive.offered_rate:.1f}/s; {_post(naive)}",
        ),
    )


def _post(result: FirstPages) -> str:
    return result.post_latency.text() if result.post_latency else "-"


def run(ctx: Context) -> Result:
    seconds = ctx.pick(60, 10)
    count = round(RATE * seconds)
    measured = {which: _one(ctx, which, count) for which in ("project", "naive")}
    results = {which: pages for which, (pages, _) in measured.items()}
    cpu = (measured["project"][1], measured["naive"][1])
    refused = {k: v.refused for k, v in results.items()}
    short = [
        f"{label} {r.offered_rate:.0f}/s"
        for label, r in (("alert-dispatch", results["project"]), ("naive", results["naive"]))
        if r.offered_rate < 0.9 * RATE
    ]
    saturated = (
        f"the client's {THREADS} threads could not keep {RATE:g}/s, each POST waiting on a "
        f"saturated receiver: offered {', '.join(short)}; latency includes that backlog"
        if short
        else f"the client kept {RATE:g}/s"
    )
    return Result(
        name=NAME,
        database=POSTGRESQL,
        date=ctx.date(),
        command=ctx.command,
        rows=rows(results["project"], results["naive"], seconds, cpu),
        notes=(
            f"POSTs refused or failed: alert-dispatch {refused['project']}, "
            f"naive {refused['naive']}",
            saturated,
        ),
    )
