"""Memory: the largest resident set of any worker process through an alert storm.

On each system in turn (default limits): 10,000 alerts (1,000 with --quick)
posted from 8 threads as fast as they are taken, for 10 people (alert i pages
person i mod 10), as a storm hits one team. Every process of the worker
(supervisor, Celery's main process, its pool children) and of the receiver is
sampled every half second with psutil until the broker's queues stayed empty
for 5 s after the last post, or a deadline. Reported: each process's highest
RSS; the goal is about the largest worker process.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil
import redis

from bench import stats
from bench.load import alert_posters, offer
from bench.perf_context import Context, System, numbers, running, warm_up
from bench.perf_report import Result, Row

NAME = "memory"
PEOPLE = 10
THREADS = 8
GOAL_BYTES = 150 * 2**20
SAMPLE_S = 0.5
QUIET_S = 5.0


def tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant still alive."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def sample(peaks: dict[int, tuple[int, str]], processes: list[psutil.Process]) -> None:
    """Raise each process's recorded peak RSS (bytes) to what it uses now."""
    for process in processes:
        try:
            rss = process.memory_info().rss
            label = " ".join(process.cmdline()[1:4])[:60]
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if rss > peaks.get(process.pid, (0, ""))[0]:
            peaks[process.pid] = (rss, label)


def queued_messages(client: redis.Redis) -> int:
    """Messages waiting in the broker's lists (every queue and priority step)."""
    total = 0
    for key in client.scan_iter(count=1000):
        if client.type(key) == b"list":
            total += int(client.llen(key))
    return total


@dataclass(frozen=True)
class Peaks:
    worker: dict[int, tuple[int, str]]
    web: dict[int, tuple[int, str]]
    posted: int
    seconds: float
    quiet: bool  # False: sampling stopped at the deadline with messages still queued

    def largest(self, which: dict[int, tuple[int, str]]) -> int:
        return max((rss for rss, _ in which.values()), default=0)


def storm(system: System, count: int, patience_s: float) -> Peaks:
    people = numbers(PEOPLE)
    keys = [people[i % PEOPLE] for i in range(count)]
    worker: dict[int, tuple[int, str]] = {}
    web: dict[int, tuple[int, str]] = {}
    posting = threading.Event()
    posting.set()
    started = time.monotonic()

    def post() -> None:
        offer(keys, alert_posters(system.web_url, system.api_token, "storm"), threads=THREADS)
        posting.clear()

    poster = threading.Thread(target=post, daemon=True)
    poster.start()
    client = redis.Redis.from_url(system.redis_url)
    quiet_since: float | None = None
    quiet = False
    try:
        while time.monotonic() - started < patience_s:
            sample(worker, tree(system.worker_pid()))
            sample(web, tree(system.web_pid()))
            if not posting.is_set() and queued_messages(client) == 0:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= QUIET_S:
                    quiet = True
                    break
            else:
                quiet_since = None
            time.sleep(SAMPLE_S)
    finally:
        client.close()
    poster.join()
    return Peaks(worker, web, count, time.monotonic() - started, quiet)


def _one(ctx: Context, which: str, count: int) -> Peaks:
    with running(ctx, NAME, which) as system:
        warm_up(system)
        result = storm(system, count, patience_s=ctx.pick(900.0, 240.0))
    print(f"{NAME} {system.label}: worker peaks {sorted(result.worker.values())}", flush=True)
    return result


def _peaks_text(peaks: dict[int, tuple[int, str]]) -> str:
    ordered = sorted(peaks.values(), reverse=True)
    return ", ".join(stats.megabytes(rss) for rss, _ in ordered)


def _end(peaks: Peaks) -> str:
    if peaks.quiet:
        return "until the broker's queues stayed empty 5 s after the last post"
    return "stopped at the deadline: messages were still being queued"


def run(ctx: Context) -> Result:
    count = ctx.pick(10_000, 1_000)
    ours = _one(ctx, "project", count)
    naive = _one(ctx, "naive", count)
    largest = ours.largest(ours.worker)
    return Result(
        name=NAME,
        database=ctx.database,
        date=ctx.date(),
        command=ctx.command,
        rows=(
            Row(
                f"max RSS of a worker process through a {count:,}-alert storm for {PEOPLE} people",
                stats.megabytes(largest),
                stats.megabytes(naive.largest(naive.worker)),
                stats.ratio_text(
                    stats.ratio(largest, naive.largest(naive.worker)), lower_is_better=True
                ),
                f"<= {stats.megabytes(GOAL_BYTES)}",
                largest <= GOAL_BYTES,
            ),
            Row(
                "  max RSS of a receiver process (gunicorn master and workers)",
                stats.megabytes(ours.largest(ours.web)),
                stats.megabytes(naive.largest(naive.web)),
            ),
        ),
        notes=(
            f"every worker process's peak, alert-dispatch: {_peaks_text(ours.worker)}; "
            f"naive: {_peaks_text(naive.worker)}",
            f"sampled for {ours.seconds:.0f} s (alert-dispatch, {_end(ours)}) and "
            f"{naive.seconds:.0f} s (naive, {_end(naive)})",
        ),
    )
