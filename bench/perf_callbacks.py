"""The callback receiver: signed delivery reports for real messages, from 4 processes.

On each system in turn: 1,500 alerts (400 with --quick) are paged to numbers
whose simulated phones send no reports of their own (`no-callback`), and the
message uuids and callback URLs the system gave Plivo are read back from the
simulator. Then 4 client processes, each with a quarter of the messages,
post for 20 s (5 s with --quick) the reports Plivo would send for them
(queued, sent, delivered, message after message; past the end of the list
the delivered ones again, as duplicates), each signed like Plivo's V3 signature with a
fresh nonce, so replay protection stays on. Afterwards the follow-up is
counted: of the messages whose "delivered" report was answered 2xx, how many
the system recorded as delivered, and how long after the last report.

The naive pager's receiver checks the signature and hands the report to a
Celery task that runs one UPDATE: a bare Flask + `apply_async` receiver.
"""

from __future__ import annotations

import http.client
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any
from urllib.parse import urlencode, urlsplit

from bench import stats
from bench.common import get_json
from bench.cpu_use import CpuUse, measuring
from bench.load import alert_posters, offer, silence_reports, wait_for_pages
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
from cli.stack import SIMULATOR_AUTH_TOKEN
from shared.plivo.signature import sign_request_headers

NAME = "callbacks"
PROCESSES = 4
STATUSES = ("queued", "sent", "delivered")
RATIO_GOAL = 2.0
P99_GOAL_S = 0.050

Report = tuple[str, dict[str, str]]  # (callback URL, form parameters)
Outcome = tuple[float, int, str, str]  # (latency s, HTTP status, body's first word, uuid)


def report_params(message: dict[str, Any], status: str) -> dict[str, str]:
    """A delivery report's form fields, as the simulator (and Plivo) send them."""
    return {
        "MessageUUID": message["message_uuid"],
        "To": message["dst"],
        "From": message["src"],
        "Type": "sms",
        "Status": status,
        "Units": str(message.get("units", 1)),
        "TotalRate": "0.00500",
        "TotalAmount": "0.00500",
        "MCC": "310",
        "MNC": "260",
    }


def reports_for(messages: Sequence[dict[str, Any]]) -> list[Report]:
    """Each message's queued, sent and delivered reports, message after message."""
    return [(m["url"], report_params(m, s)) for m in messages for s in STATUSES]


def delivered_uuids(outcomes: Sequence[Outcome]) -> set[str]:
    """Messages whose "delivered" report was answered 2xx: the follow-up owed."""
    return {uuid for _, status, _, uuid in outcomes if 200 <= status < 300 and uuid}


class _Client:
    """A keep-alive HTTP/1.1 connection to the receiver, reopened after an error.

    `http.client`, not `requests`: the four client processes share the two
    cores with the receiver and its worker, and `requests` cost more CPU per
    report than the receivers measured; every CPU-millisecond the client
    takes is one the receivers do not get, which pushed both rates (and their
    ratio) towards the client's own limit.
    """

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.connection: http.client.HTTPConnection | None = None

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        parts = urlsplit(url)
        target = f"{parts.path}?{parts.query}" if parts.query else parts.path
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            self.connection.request("POST", target, body, headers)
            response = self.connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        except (OSError, http.client.HTTPException):
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def post_reports(reports: list[Report], start_at: float, seconds: float) -> list[Outcome]:
    """One client process: post its reports in a loop from `start_at` for `seconds`."""
    outcomes: list[Outcome] = []
    if not reports:
        return outcomes
    client = _Client(reports[0][0])
    time.sleep(max(0.0, start_at - time.time()))
    end = start_at + seconds
    # Past the end, only the final reports again: duplicates as Plivo may post them.
    again = [r for r in reports if r[1]["Status"] == STATUSES[-1]]
    index = 0
    while time.time() < end:
        url, params = reports[index] if index < len(reports) else again[index % len(again)]
        headers = sign_request_headers(SIMULATOR_AUTH_TOKEN, url, params, "POST")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        uuid = params["MessageUUID"] if params["Status"] == "delivered" else ""
        started = time.perf_counter()
        try:
            status, text = client.post(url, urlencode(params).encode(), headers)
            word = (text.split() or ["(empty)"])[0]
            outcomes.append((time.perf_counter() - started, status, word, uuid))
        except (OSError, http.client.HTTPException) as exc:
            outcomes.append((time.perf_counter() - started, 0, type(exc).__name__, uuid))
        index += 1
    client.close()
    return outcomes


@dataclass(frozen=True)
class Received:
    rate: float
    latency: stats.Latency | None
    outcomes: dict[str, int]
    owed: int
    delivered: int
    follow_up_s: float | None
    cpu: CpuUse | None = None  # from the first report to the follow-up recorded


def page_quietly(system: System, count: int) -> list[dict[str, Any]]:
    """Page `count` numbers whose phones send no reports; the simulator's messages to them."""
    keys = numbers(count)
    silence_reports(system.simulator_url, keys)
    offer(keys, alert_posters(system.web_url, system.api_token, "callbacks"), threads=8)
    _, complete = wait_for_pages(system.simulator_url, keys, timeout=120 + count / 10)
    if not complete:
        raise RuntimeError(f"{system.label}: not every page reached the simulator")
    _wait(lambda: system.accepted_sends() >= count + WARM_UP_ALERTS, 120, "sends recorded")
    wanted = {k.lstrip("+") for k in keys}
    messages = get_json(f"{system.simulator_url}/_sim/messages", timeout=60)
    return [m for m in messages if m["dst"].lstrip("+") in wanted and m.get("url")]


def _wait(predicate: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.5)
    return time.monotonic() - started


def blast(messages: Sequence[dict[str, Any]], seconds: float) -> list[Outcome]:
    """The messages split over PROCESSES client processes, all starting together."""
    start_at = time.time() + 3.0  # after every process has started
    with ProcessPoolExecutor(PROCESSES, mp_context=get_context("spawn")) as pool:
        futures = [
            pool.submit(post_reports, reports_for(messages[k::PROCESSES]), start_at, seconds)
            for k in range(PROCESSES)
        ]
        return [outcome for f in futures for outcome in f.result()]


def _follow_up(system: System, target: int, timeout: float = 60.0) -> tuple[int, float | None]:
    try:
        waited = _wait(lambda: system.delivered() >= target, timeout, "follow-up")
    except RuntimeError:
        return system.delivered(), None
    return system.delivered(), waited


def _one(ctx: Context, which: str, count: int, seconds: float) -> Received:
    options = {"raised_limit": RAISED_LIMIT} if which == "project" else {}
    with running(ctx, NAME, which, **options) as system:
        warm_up(system)
        messages = page_quietly(system, count)
        with measuring(system.web_pid(), system.worker_pid()) as cpu:
            with profiled(ctx, system, NAME):
                outcomes = blast(messages, seconds)
            owed = len(delivered_uuids(outcomes))
            delivered, waited = _follow_up(system, owed + WARM_UP_ALERTS)
    ok = [o for o in outcomes if 200 <= o[1] < 300]
    result = Received(
        rate=len(ok) / seconds,
        latency=stats.latency([o[0] for o in outcomes]),
        outcomes=dict(Counter(f"{status} {word}" for _, status, word, _ in outcomes)),
        owed=owed,
        delivered=delivered - WARM_UP_ALERTS,
        follow_up_s=waited,
        cpu=cpu[0],
    )
    print(f"{NAME} {system.label}: {result}", flush=True)
    return result


def _follow_text(r: Received) -> str:
    when = "still missing after 60 s" if r.follow_up_s is None else f"{r.follow_up_s:.0f} s after"
    return f"{r.delivered:,} of {r.owed:,} delivered ({when})"


def rows(ours: Received, naive: Received, seconds: float) -> tuple[Row, ...]:
    ratio = stats.ratio(ours.rate, naive.rate)
    return (
        Row(
            f"signed delivery reports, {PROCESSES} processes for {seconds:g} s, fresh nonce each, "
            "real message uuids: answered 2xx",
            stats.rate(ours.rate),
            stats.rate(naive.rate),
            stats.ratio_text(ratio, lower_is_better=False),
            f">= {RATIO_GOAL}x",
            None if ratio is None else ratio >= RATIO_GOAL,
        ),
        Row(
            "  latency per report",
            ours.latency.text() if ours.latency else "-",
            naive.latency.text() if naive.latency else "-",
            stats.latency_ratios(ours.latency, naive.latency),
            f"p99 <= {stats.duration(P99_GOAL_S)}",
            None if ours.latency is None else ours.latency.p99 <= P99_GOAL_S,
        ),
        Row(
            "  follow-up: messages recorded delivered, of those whose report was answered 2xx",
            _follow_text(ours),
            _follow_text(naive),
        ),
        Row(
            "  CPU per report answered, by process tree, until the follow-up was recorded (ms)",
            _cpu_text(ours),
            _cpu_text(naive),
        ),
    )


def _cpu_text(r: Received) -> str:
    answered = sum(n for outcome, n in r.outcomes.items() if outcome.startswith("2"))
    return r.cpu.per_item_text(answered, "report") if r.cpu else "-"


def run(ctx: Context) -> Result:
    count = ctx.pick(1500, 400)
    seconds = ctx.pick(20.0, 5.0)
    results = {which: _one(ctx, which, count, seconds) for which in ("project", "naive")}
    labels = {"project": "alert-dispatch", "naive": "naive"}
    answers = "; ".join(
        f"{labels[k]}: " + ", ".join(f"{n:,} x {o}" for o, n in sorted(v.outcomes.items()))
        for k, v in results.items()
    )
    return Result(
        name=NAME,
        database=ctx.database,
        date=ctx.date(),
        command=ctx.command,
        rows=rows(results["project"], results["naive"], seconds),
        notes=(
            f"answers (status, body): {answers}",
            "a follow-up short of the reports answered means reports applied out of order "
            "left an earlier status last (the naive pager's one UPDATE per report has no "
            "state machine to refuse going backwards)",
        ),
    )
