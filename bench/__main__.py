"""`python -m bench [NAME ...]`: the performance suite of issue 16.

Runs every benchmark (or the ones named) against real processes and the
Plivo simulator, alert-dispatch and the naive pager one after the other in
the same run, and writes bench/results/performance.md (and .json, from which
the markdown is rendered; --quick runs write performance-quick.*).

    python -m bench                                  # everything, on SQLite
    python -m bench first-page --db postgresql       # one benchmark on PostgreSQL
    python -m bench --quick                          # smaller loads, minutes not half an hour
    python -m bench first-page callbacks --profile   # and py-spy profiles of the project
    python -m bench --list

`chaos`, `rate-limit`, `history`, `notices` and `scale_out` are listed and run only when
named (they take their own options: run `python -m bench.chaos --help`).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import shlex
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from bench.common import bench_directory
from bench.databases import DEFAULT_PG_URL, KINDS
from bench.perf_context import Context
from bench.profiling import py_spy
from bench.suite import by_name, listing, load_average, result_paths, run_context, write_results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--db", choices=KINDS, default="sqlite", help="database kind (sqlite)")
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server to create a fresh database on (sustained always uses it)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller loads and shorter runs")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the project's receiver and worker during first-page and callbacks",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep data, logs, profiles")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return parser.parse_args(argv)


def run_external(module: str) -> int:
    """chaos and rate-limit: their own main, their own results file."""
    return int(importlib.import_module(module).main([]) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print(listing())
        return 0
    try:
        chosen = by_name(args.names)
    except ValueError as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 2
    if args.profile and py_spy() is None:
        print(
            "python -m bench: --profile needs py-spy: .venv/bin/pip install py-spy", file=sys.stderr
        )
        return 2
    command = shlex.join(["python", "-m", "bench", *(sys.argv[1:] if argv is None else argv)])
    store_path, output = result_paths(args.quick)
    load = load_average()
    headers: dict[str, dict[str, str]] = {}  # per database kind (sustained is PostgreSQL)
    failed: list[str] = []
    status = 0
    with bench_directory(args.workdir, "bench-perf-") as workdir:
        ctx = Context(
            args.db, args.pg_url, args.quick, workdir, command, args.profile, workdir / "profiles"
        )
        for benchmark in chosen:
            started = time.monotonic()
            print(f"== {benchmark.name} ({benchmark.summary})", flush=True)
            if benchmark.module in (
                "bench.chaos",
                "bench.rate_limit",
                "bench.history",
                "bench.notices",
                "bench.scale_out",
            ):
                status |= run_external(benchmark.module)
                continue
            try:
                result = benchmark.runner()(ctx)
            except Exception:  # one benchmark's failure must not lose the others' figures
                traceback.print_exc()
                failed.append(benchmark.name)
                continue
            if result.database not in headers:
                headers[result.database] = run_context(result.database, args.pg_url)
            header = {**headers[result.database], "load average at start": load}
            result = dataclasses.replace(result, context={**header, **result.context})
            write_results([result], store_path, output)
            print(f"== {benchmark.name} done in {time.monotonic() - started:.0f}s", flush=True)
    print(f"results: {output}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
