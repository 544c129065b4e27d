"""Benchmark of issue 4: does the shared limiter hold one sender to its rate?

`python -m bench.rate_limit [--seconds 60] [--rate 5]` runs, one after the
other and in one invocation:

1. Ours: the whole system (`cli.stack.Stack`) with two worker instances of two
   prefork processes each, account and sender pacing set to `--rate`, and a
   backlog of `rate * seconds` alerts posted as fast as the receiver takes them,
   each to its own number so a person's caps never bind and only the sender's
   pacing is measured.
2. Baseline: the same backlog, the same 2 x 2 workers and the same kind of
   Redis, paced only by Celery's built-in `rate_limit` (`bench.celery_baseline`).

Both are measured where Plivo would measure them: the times at which the
simulator received each `POST .../Message/`. Results go to
`bench/results/rate_limit.md` and are printed.

Window conventions, because "at most N per second" is only meaningful with them:

* A window is half-open, `[t, t + 1 s)`: requests exactly one interval apart
  at the limit (0.0, 0.2, ..., 1.0 at 5/s) put 5, not 6, in a window.
* Fixed windows start at the first request and follow each other.
* The sliding maximum is over every window; the fullest window of a set of
  points always starts at one of them, so windows starting at each request
  suffice.
* The achieved rate is `(n - 1) / (last - first)`: n requests span n - 1
  intervals, so a sender exactly at the limit scores exactly 100 %.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import (
    REPO_ROOT,
    RESULTS_DIR,
    AlertPoster,
    bench_directory,
    destinations,
    get_json,
    machine,
    source_state,
)

RESULTS_FILE = RESULTS_DIR / "rate_limit.md"

WINDOW_S = 1.0
# The goal of issue 4: never over the limit, and at least this share of it.
MIN_RATE_SHARE = 0.95
# A run is given twice its ideal duration plus this much before measuring stops.
DEADLINE_MARGIN_S = 30.0
# After the last expected message arrives, how long to keep listening for duplicates.
SETTLE_S = 3.0
POLL_S = 1.0
SENDER = "+14155550000"
MESSAGE_PATH_SUFFIX = "/Message/"
BASELINE_WORKERS = ("b1", "b2")
WORKER_CONCURRENCY = 2


# -- measuring --------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """One `POST .../Message/` as the simulator received it."""

    at: float
    destination: str
    status: int


def message_sends(api_requests: Iterable[Mapping[str, Any]]) -> list[Send]:
    """The SMS sends among the simulator's logged API requests, oldest first.

    Destinations are kept as digits only (Plivo drops the "+"), one `Send` per
    destination of a bulk request, since each is one message against the limit.
    """
    sends: list[Send] = []
    for entry in api_requests:
        if entry.get("method") != "POST" or not str(entry.get("path", "")).endswith(
            MESSAGE_PATH_SUFFIX
        ):
            continue
        body = entry.get("body") or {}
        dst = str(body.get("dst", "")) if isinstance(body, Mapping) else ""
        status = int(entry.get("status") or 0)
        for number in dst.split("<") if dst else [""]:
            sends.append(Send(float(entry["time"]), number.lstrip("+"), status))
    sends.sort(key=lambda s: s.at)
    return sends


def fixed_window_counts(times: Sequence[float], window_s: float = WINDOW_S) -> list[int]:
    """Requests per consecutive window `[t0 + k w, t0 + (k + 1) w)`, t0 the first request.

    Empty windows in between are included (as 0), so the list also shows stalls.
    """
    if not times:
        return []
    origin = min(times)
    counts = [0] * (math.floor((max(times) - origin) / window_s) + 1)
    for t in times:
        counts[math.floor((t - origin) / window_s)] += 1
    return counts


def sliding_window_counts(times: Sequence[float], window_s: float = WINDOW_S) -> list[int]:
    """For each request i (in time order), how many requests lie in `[t_i, t_i + w)`."""
    ordered = sorted(times)
    counts: list[int] = []
    end = 0
    for start, t in enumerate(ordered):
        end = max(end, start)
        while end < len(ordered) and ordered[end] < t + window_s:
            end += 1
        counts.append(end - start)
    return counts


def achieved_rate(times: Sequence[float]) -> float:
    """Requests per second over the span of the run: (n - 1) intervals / (last - first)."""
    if len(times) < 2:
        return 0.0
    span = max(times) - min(times)
    return (len(times) - 1) / span if span > 0 else math.inf


def shortest_gap(times: Sequence[float]) -> float | None:
    """The smallest spacing between consecutive requests: how close pacing came to bursting."""
    ordered = sorted(times)
    gaps = [b - a for a, b in zip(ordered, ordered[1:], strict=False)]
    return min(gaps) if gaps else None


@dataclass(frozen=True)
class Summary:
    """The figures of one method's run, as the results table shows them."""

    method: str
    limit: float
    expected: int
    received: int
    rejected: int
    duration_s: float
    rate: float
    fixed_max: int
    fixed_over: int
    fixed_windows: int
    fixed_counts: tuple[int, ...]
    sliding_max: int
    sliding_over: int
    min_gap_s: float | None
    duplicates: int
    lost: int
    completed: bool

    @property
    def rate_share(self) -> float:
        return self.rate / self.limit if self.limit else 0.0

    @property
    def meets_goal(self) -> bool:
        """Issue 4's goal: no one-second window over the limit, and at least 95 % of it."""
        return (
            self.sliding_max <= self.limit
            and self.fixed_max <= self.limit
            and self.rate_share >= MIN_RATE_SHARE
            and self.lost == 0
            and self.duplicates == 0
        )


def summarize(
    method: str,
    limit: float,
    expected: Sequence[str],
    sends: Sequence[Send],
    *,
    completed: bool,
    window_s: float = WINDOW_S,
) -> Summary:
    """Every figure of the table from the received sends and the numbers that were paged."""
    times = [s.at for s in sends]
    fixed = fixed_window_counts(times, window_s)
    sliding = sliding_window_counts(times, window_s)
    per_destination = Counter(s.destination for s in sends)
    wanted = {number.lstrip("+") for number in expected}
    return Summary(
        method=method,
        limit=limit,
        expected=len(expected),
        received=len(sends),
        rejected=sum(1 for s in sends if not 200 <= s.status < 300),
        duration_s=(max(times) - min(times)) if times else 0.0,
        rate=achieved_rate(times),
        fixed_max=max(fixed, default=0),
        fixed_over=sum(1 for c in fixed if c > limit),
        fixed_windows=len(fixed),
        fixed_counts=tuple(fixed),
        sliding_max=max(sliding, default=0),
        sliding_over=sum(1 for c in sliding if c > limit),
        min_gap_s=shortest_gap(times),
        duplicates=sum(n - 1 for n in per_destination.values() if n > 1),
        lost=len(wanted - set(per_destination)),
        completed=completed,
    )


# -- the backlog --------------------------------------------------------------


def wait_for_sends(
    fetch: Callable[[], Sequence[Mapping[str, Any]]],
    expected: Sequence[str],
    deadline: float,
) -> tuple[list[Send], bool]:
    """Poll until every expected number got a message or the deadline passes.

    Returns the sends and whether all arrived. Listens `SETTLE_S` longer after
    the last one, so a duplicate sent just behind it is counted too.
    """
    wanted = {number.lstrip("+") for number in expected}
    while time.monotonic() < deadline:
        received = {s.destination for s in message_sends(fetch())}
        if wanted <= received:
            time.sleep(SETTLE_S)
            return message_sends(fetch()), True
        time.sleep(POLL_S)
    sends = message_sends(fetch())
    return sends, wanted <= {s.destination for s in sends}


def save_sends(path: Path, sends: Sequence[Send]) -> None:
    """Keep the raw receive times next to the logs, to study a run after the fact."""
    path.write_text(json.dumps([vars(s) for s in sends], indent=0))


def run_deadline(count: int, rate: float) -> float:
    """Monotonic time at which measuring stops: twice the ideal duration, plus a margin."""
    return time.monotonic() + 2 * count / rate + DEADLINE_MARGIN_S


# -- ours ---------------------------------------------------------------------


def run_ours(rate: float, seconds: float, workdir: Path) -> Summary:
    """The backlog through alert-dispatch itself: receiver, 2 x 2 workers, shared limiter."""
    from cli.stack import Stack, StackConfig

    numbers = destinations(round(rate * seconds))
    config = StackConfig(
        data_dir=workdir / "ours",
        workers=2,
        worker_concurrency=WORKER_CONCURRENCY,
        # As deployed: the tick hands over the sends that wait for a slot in the database.
        with_beat=True,
        extra_env={"SMS_PER_SECOND": f"{rate:g}", "SENDER_SMS_PER_SECOND": f"{rate:g}"},
    )
    stack = Stack(config)
    try:
        stack.start()
        stack.wait_for_workers()
        print(f"ours: stack up, logs in {stack.logs_dir}", flush=True)
        deadline = run_deadline(len(numbers), rate)
        started = time.monotonic()
        with AlertPoster(stack.web_url, stack.config.api_token) as poster:
            for index, number in enumerate(numbers):
                poster.post(number, f"rate-limit benchmark alert {index}")
        print(
            f"ours: {len(numbers)} alerts posted in {time.monotonic() - started:.1f}s", flush=True
        )

        def fetch() -> list[Mapping[str, Any]]:
            return get_json(f"{stack.simulator_url}/_sim/requests")

        sends, completed = wait_for_sends(fetch, numbers, deadline)
    finally:
        stack.stop()
    save_sends(workdir / "sends-ours.json", sends)
    return summarize(
        "alert-dispatch (shared GCRA limiter)", rate, numbers, sends, completed=completed
    )


# -- baseline -----------------------------------------------------------------


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group (a Celery worker and its pool), SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def run_baseline(rate: float, seconds: float, workdir: Path) -> Summary:
    """The same backlog paced only by Celery's `rate_limit`, on 2 instances x 2 processes."""
    from celery import Celery

    from bench.celery_baseline import QUEUE, TASK_NAME
    from cli.stack import wait_for_celery_workers
    from shared.core.embedded_redis import broker_url_for, ensure_embedded_redis
    from simulator.server import start_in_thread

    numbers = destinations(round(rate * seconds))
    base = workdir / "baseline"
    logs = base / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    redis_server = ensure_embedded_redis(base)
    broker_url = broker_url_for(redis_server.url)
    processes: list[subprocess.Popen[bytes]] = []
    log_files: list[Any] = []
    simulator = None
    try:
        simulator = start_in_thread()
        env = {
            **os.environ,
            "BENCH_BROKER_URL": broker_url,
            "BENCH_RATE": f"{rate:g}",
            "BENCH_PLIVO_BASE_URL": simulator.url,
            "BENCH_PLIVO_AUTH_ID": simulator.config.auth_id,
            "BENCH_PLIVO_AUTH_TOKEN": simulator.config.auth_token,
            "PYTHONUNBUFFERED": "1",
        }
        for name in BASELINE_WORKERS:
            log_file = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
            log_files.append(log_file)
            command = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "bench.celery_baseline",
                "worker",
                "-c",
                str(WORKER_CONCURRENCY),
                "-n",
                f"{name}@%h",
                "-Q",
                QUEUE,
                "--loglevel",
                "INFO",
            ]
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=REPO_ROOT,
                    env=env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        wait_for_celery_workers(broker_url, BASELINE_WORKERS, timeout=60)
        print(f"baseline: workers up, logs in {logs}", flush=True)
        deadline = run_deadline(len(numbers), rate)
        producer = Celery(broker=broker_url)
        try:
            for index, number in enumerate(numbers):
                producer.send_task(
                    TASK_NAME,
                    args=[SENDER, number, f"rate-limit benchmark alert {index}"],
                    queue=QUEUE,
                )
        finally:
            producer.close()
        print(f"baseline: {len(numbers)} tasks enqueued", flush=True)
        sends, completed = wait_for_sends(simulator.state.requests, numbers, deadline)
    finally:
        for process in processes:
            _stop_process(process)
        for log_file in log_files:
            log_file.close()
        if simulator is not None:
            simulator.stop()
        redis_server.stop()
    save_sends(workdir / "sends-baseline.json", sends)
    return summarize("Celery `rate_limit` per task", rate, numbers, sends, completed=completed)


# -- reporting ----------------------------------------------------------------

COLUMNS = (
    "method",
    "limit",
    "messages",
    "duration",
    "achieved rate",
    "% of limit",
    "highest 1 s window (fixed / sliding)",
    "windows over the limit (fixed / sliding)",
    "shortest gap",
    "rejected",
    "duplicates",
    "lost",
)


def table_row(s: Summary) -> list[str]:
    gap = "-" if s.min_gap_s is None else f"{s.min_gap_s * 1000:.0f} ms"
    messages = f"{s.received} / {s.expected}" + ("" if s.completed else " (deadline)")
    return [
        s.method,
        f"{s.limit:g}/s",
        messages,
        f"{s.duration_s:.1f} s",
        f"{s.rate:.2f}/s",
        f"{s.rate_share:.1%}",
        f"{s.fixed_max} / {s.sliding_max}",
        f"{s.fixed_over} of {s.fixed_windows} / {s.sliding_over} of {s.received}",
        gap,
        str(s.rejected),
        str(s.duplicates),
        str(s.lost),
    ]


def markdown_table(summaries: Sequence[Summary]) -> str:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += ["| " + " | ".join(table_row(s)) + " |" for s in summaries]
    return "\n".join(lines)


def per_ten_seconds(s: Summary) -> str:
    """Messages in each 10 s of the run: shows a burst, a stall or a collapse at a glance."""
    tens = [sum(s.fixed_counts[i : i + 10]) for i in range(0, len(s.fixed_counts), 10)]
    return ", ".join(str(n) for n in tens) or "-"


def verdict(s: Summary) -> str:
    """One sentence on issue 4's goal for this run."""
    over = max(s.fixed_max, s.sliding_max)
    parts = [
        f"highest window {over} {'<=' if over <= s.limit else '>'} {s.limit:g}",
        f"rate {s.rate_share:.1%} {'>=' if s.rate_share >= MIN_RATE_SHARE else '<'} "
        f"{MIN_RATE_SHARE:.0%}",
        f"{s.duplicates} duplicates, {s.lost} lost",
    ]
    return f"**{'meets' if s.meets_goal else 'misses'} the goal**: " + "; ".join(parts) + "."


def render_report(ours: Summary, baseline: Summary, command: str, rate: float, source: str) -> str:
    ratio = ours.rate / baseline.rate if baseline.rate else math.nan
    return "\n".join(
        [
            "# Rate-limit benchmark (issue 4)",
            "",
            f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
            f"- machine: {machine()}",
            f"- command: `{command}`",
            f"- source: {source}",
            f"- setup: 2 worker instances x 2 prefork processes (alert-dispatch with its beat), "
            "one sender limited to "
            f"{rate:g} SMS/s, a backlog of {ours.expected} messages (one number each), "
            "embedded Redis, the Plivo simulator on loopback",
            "- measured: the time the simulator received each `POST .../Message/`; "
            "windows are half-open `[t, t + 1 s)`, fixed ones start at the first request, "
            "the sliding maximum is over every window; rate = (n - 1) / (last - first)",
            "",
            markdown_table([ours, baseline]),
            "",
            f"- alert-dispatch: {verdict(ours)}",
            f"- Celery `rate_limit`: {verdict(baseline)} Celery keeps the bucket in each "
            "worker instance, so two instances send up to twice the limit.",
            f"- messages per 10 s, alert-dispatch: {per_ten_seconds(ours)}",
            f"- messages per 10 s, Celery `rate_limit`: {per_ten_seconds(baseline)}",
            f"- rate of alert-dispatch / rate of the baseline: {ratio:.2f}",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rate_limit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="backlog, in seconds of sends")
    parser.add_argument("--rate", type=float, default=5.0, help="sender limit, SMS per second")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep data and logs here (default: a temporary directory)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_FILE, help="markdown results file")
    args = parser.parse_args(argv)
    if not (args.rate > 0 and args.seconds > 0):
        parser.error("--rate and --seconds must be positive")
    command = shlex.join(
        ["python", "-m", "bench.rate_limit", *(sys.argv[1:] if argv is None else argv)]
    )
    source = source_state()
    with bench_directory(args.workdir, "bench-rl-") as directory:
        ours = run_ours(args.rate, args.seconds, directory)
        print(markdown_table([ours]), flush=True)
        baseline = run_baseline(args.rate, args.seconds, directory)
    report = render_report(ours, baseline, command, args.rate, source)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(report)
    print(report)
    return 0 if ours.meets_goal else 1


if __name__ == "__main__":
    sys.exit(main())
