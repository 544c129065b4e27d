"""Ingestion: how fast alerts are taken in while the worker pages them.

On each system in turn (account limits raised for alert-dispatch, so pages
are not held back by pacing the naive pager does not have):

1. single POSTs to `/api/v1/alerts` from 8 threads, as fast as they are
   answered, each alert to its own number (2,000; 400 with --quick): accepted
   per second, POST latency, and how long after the last POST the last page
   reached Plivo (whether the worker kept up);
2. Alertmanager webhook bodies of 100 alerts each, made from the real bodies
   in tests/fixtures/alertmanager/ (fingerprints and instances made unique),
   from 8 threads (20 bodies; 5 with --quick): alerts stored per second.
   alert-dispatch routes them by an on-call file to one person (who gets the
   first alert and then bundles); the naive pager pages its one on-call
   number once per alert.

After them, step 1 again on the floor pager (bench/naive/floor_web.py: the
naive pager's receiver sending each SMS from the request, storing and
queueing nothing): the most these parts take in on this machine, so that a
goal above it reads as what it is.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

from bench import stats
from bench.common import REPO_ROOT
from bench.load import Post, alert_posters, offer, wait_for_pages
from bench.naive.system import ONCALL_NUMBER
from bench.perf_context import RAISED_LIMIT, Context, System, numbers, profiled, running, warm_up
from bench.perf_report import Result, Row

NAME = "ingestion"
THREADS = 8
BATCH_SIZE = 100
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "alertmanager"
SINGLES_RATIO_GOAL = 1.5
BATCH_RATE_GOAL = 2000.0
ONCALL_FILE = f"""
contacts:
  oncall: {{phone: "{ONCALL_NUMBER}", channels: [sms]}}
policies:
  everyone:
    steps:
      - {{targets: [oncall], channels: [sms], wait: 10m}}
default_policy: everyone
"""


@dataclass(frozen=True)
class Ingested:
    """What one system took in: singles and batches."""

    singles_rate: float
    singles_latency: stats.Latency | None
    singles_refused: int
    drain_s: float | None  # last POST answered -> last page at Plivo; None: not all arrived
    batch_rate: float
    batch_latency: stats.Latency | None
    batch_alerts: int


def accepted_rate(posts: list[Post], accepted: int | None = None) -> float:
    """Accepted per second, from the first POST leaving to the last one answered."""
    done = [p for p in posts if p.ok]
    if not done:
        return 0.0
    ended = max(p.sent_at + p.latency_s for p in done)
    return stats.per_second(len(done) if accepted is None else accepted, done[0].sent_at, ended)


def alertmanager_bodies(count: int, size: int = BATCH_SIZE) -> list[dict[str, Any]]:
    """`count` firing webhook bodies of `size` alerts, from the real body, each alert unique."""
    template = json.loads((FIXTURES / "webhook-firing.json").read_text())
    bodies = []
    for b in range(count):
        body = copy.deepcopy(template)
        originals = template["alerts"]
        alerts = []
        for i in range(size):
            alert = copy.deepcopy(originals[i % len(originals)])
            alert["labels"]["instance"] = f"db{b}-{i}:5432"
            alert["fingerprint"] = f"{b:06x}{i:06x}bench"
            alerts.append(alert)
        body["alerts"] = alerts
        bodies.append(body)
    return bodies


def batch_posters(
    web_url: str, token: str, bodies: list[dict[str, Any]], accepted: list[int]
) -> Callable[[], tuple[Callable[[str], None], Callable[[], None]]]:
    """Per thread: posts body number `key` to the Alertmanager endpoint; counts alerts stored."""

    def make() -> tuple[Callable[[str], None], Callable[[], None]]:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"

        def post(key: str) -> None:
            response = session.post(
                f"{web_url}/api/v1/integrations/alertmanager", json=bodies[int(key)], timeout=60
            )
            response.raise_for_status()
            accepted.append(int(response.json()["accepted"]))

        return post, session.close

    return make


def ingest_singles(system: System, singles: int) -> Ingested:
    """Step 1 alone (the batches' figures zero)."""
    keys = numbers(singles)
    posts = offer(keys, alert_posters(system.web_url, system.api_token, "ingest"), threads=THREADS)
    last_answer = max((p.sent_at + p.latency_s for p in posts if p.ok), default=0.0)
    sends, complete = wait_for_pages(system.simulator_url, keys, timeout=120 + singles / 10)
    last_page = max(
        (s.at for s in sends if s.destination in {k.lstrip("+") for k in keys}), default=0.0
    )
    return Ingested(
        singles_rate=accepted_rate(posts),
        singles_latency=stats.latency([p.latency_s for p in posts if p.ok]),
        singles_refused=sum(1 for p in posts if not p.ok),
        drain_s=max(0.0, last_page - last_answer) if complete else None,
        batch_rate=0.0,
        batch_latency=None,
        batch_alerts=0,
    )


def ingest(system: System, singles: int, batches: int) -> Ingested:
    taken = ingest_singles(system, singles)
    if batches <= 0:
        return taken
    accepted: list[int] = []
    bodies = alertmanager_bodies(batches)
    batch_posts = offer(
        [str(i) for i in range(batches)],
        batch_posters(system.web_url, system.api_token, bodies, accepted),
        threads=THREADS,
    )
    return dataclasses.replace(
        taken,
        batch_rate=accepted_rate(batch_posts, sum(accepted)),
        batch_latency=stats.latency([p.latency_s for p in batch_posts if p.ok]),
        batch_alerts=sum(accepted),
    )


def _one(ctx: Context, which: str, singles: int, batches: int) -> Ingested:
    options = (
        {"raised_limit": RAISED_LIMIT, "oncall_config": ONCALL_FILE} if which == "project" else {}
    )
    with running(ctx, NAME, which, **options) as system:
        warm_up(system)
        with profiled(ctx, system, NAME):  # the single POSTs take nearly all of the time
            result = ingest(system, singles, batches)
    print(f"{NAME} {system.label}: {result}", flush=True)
    return result


def _drain(result: Ingested) -> str:
    return "not all paged" if result.drain_s is None else stats.duration(result.drain_s)


def floor_row(floor: Ingested, naive: Ingested) -> Row:
    """The floor pager's single POSTs against the naive pager's, beside the goal's ratio."""
    ratio = stats.ratio(floor.singles_rate, naive.singles_rate)
    beyond = ratio is not None and ratio < SINGLES_RATIO_GOAL
    return Row(
        "  the floor pager, same load (sends each SMS from the request; stores nothing, "
        "queues nothing): accepted, in the first column",
        stats.rate(floor.singles_rate),
        stats.rate(naive.singles_rate),
        stats.ratio_text(ratio, lower_is_better=False),
        f"the goal's {SINGLES_RATIO_GOAL}x is above this floor" if beyond else "",
    )


def rows(
    ours: Ingested, naive: Ingested, singles: int, floor: Ingested | None = None
) -> tuple[Row, ...]:
    singles_ratio = stats.ratio(ours.singles_rate, naive.singles_rate)
    lat = (ours.singles_latency, naive.singles_latency)
    batch_ratio = stats.ratio(ours.batch_rate, naive.batch_rate)
    return (
        Row(
            f"{singles:,} single POSTs from {THREADS} threads while the worker pages them: "
            "accepted",
            stats.rate(ours.singles_rate),
            stats.rate(naive.singles_rate),
            stats.ratio_text(singles_ratio, lower_is_better=False),
            f">= {SINGLES_RATIO_GOAL}x",
            None if singles_ratio is None else singles_ratio >= SINGLES_RATIO_GOAL,
        ),
        Row(
            "  POST latency at saturation (8 threads, unpaced)",
            lat[0].text() if lat[0] else "-",
            lat[1].text() if lat[1] else "-",
            stats.latency_ratios(*lat),
        ),
        Row("  last page at Plivo, after the last POST answered", _drain(ours), _drain(naive)),
        *(() if floor is None else (floor_row(floor, naive),)),
        Row(
            f"Alertmanager bodies of {BATCH_SIZE} alerts from {THREADS} threads: alerts stored",
            f"{stats.rate(ours.batch_rate)} ({ours.batch_alerts:,} alerts)",
            f"{stats.rate(naive.batch_rate)} ({naive.batch_alerts:,} alerts)",
            stats.ratio_text(batch_ratio, lower_is_better=False),
            f">= {BATCH_RATE_GOAL:,.0f} alerts/s",
            ours.batch_rate >= BATCH_RATE_GOAL,
        ),
        Row(
            "  POST latency per body",
            ours.batch_latency.text() if ours.batch_latency else "-",
            naive.batch_latency.text() if naive.batch_latency else "-",
            stats.latency_ratios(ours.batch_latency, naive.batch_latency),
        ),
    )


def run(ctx: Context) -> Result:
    singles = ctx.pick(2000, 400)
    batches = ctx.pick(20, 5)
    results = {which: _one(ctx, which, singles, batches) for which in ("project", "naive")}
    floor = _one(ctx, "floor", singles, 0)
    refused = {k: v.singles_refused for k, v in results.items()}
    return Result(
        name=NAME,
        database=ctx.database,
        date=ctx.date(),
        command=ctx.command,
        rows=rows(results["project"], results["naive"], singles, floor),
        notes=(
            f"single POSTs refused or failed: alert-dispatch {refused['project']}, "
            f"naive {refused['naive']}, floor {floor.singles_refused}",
            "alert-dispatch routes Alertmanager alerts by an on-call file to one person "
            "(first alert at once, the rest bundled); the naive pager sends one SMS per alert",
        ),
    )
