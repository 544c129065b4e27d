"""History: does a page's and an acknowledgement's database work grow with what is kept?

A deployment keeps every alert, message and reply code it ever made. Each page
reads its person's reply codes and each closed alert retires the codes that
answered for it; both must cost the same on the first day and after a year.
This benchmark runs both operations against a real database twice in one run:

- **baseline**: a fresh database holding only the alerts measured;
- **with history**: the same, after `--past` closed alerts (each with its
  delivered message and a code retired two days ago, spread over `--people`
  people) and `--open` other open alerts (each with its active code) were
  stored.

It reports each operation's time inside its transaction (p50/p95) and the
ratio history / baseline; flat is 1.0x. Results: bench/results/history.md.

    .venv/bin/python -m bench.history               # both databases, about 1 minute
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench import stats
from bench.common import bench_directory, machine, source_state
from bench.databases import DEFAULT_PG_URL, KINDS, fresh_database, server_version
from shared.alerts.lifecycle import resolve
from shared.core.db import session_scope, upgrade
from shared.core.models import AckCode, Alert, Notification, utcnow
from shared.replies.code_store import code_for

OUTPUT = Path(__file__).parent / "results" / "history.md"
MEASURED = 200  # alerts paged, then resolved, in each state of the database
CHUNK = 5_000  # rows per INSERT while seeding
Operation = Callable[[Any, int, str], object]


@dataclass(frozen=True)
class Timings:
    """Milliseconds per operation, in one state of one database."""

    page_codes: list[float]
    resolves: list[float]


def _person(index: int, people: int) -> str:
    return f"+1415{7000000 + index % people:07d}"


def _chunks(count: int) -> Iterator[range]:
    for start in range(0, count, CHUNK):
        yield range(start, min(count, start + CHUNK))


def seed_history(url: str, past: int, open_count: int, people: int) -> None:
    """Closed alerts with a delivered message and a retired code each, then open alerts
    with their message and active code, for `people` people in turn."""
    long_ago = utcnow() - timedelta(days=2)
    with session_scope(url) as session:
        for rows in _chunks(past + open_count):
            closed = [i < past for i in rows]
            ids = session.scalars(
                insert(Alert).returning(Alert.id, sort_by_parameter_order=True),
                [
                    {
                        "summary": f"past {i}",
                        "severity": "critical",
                        "source": "history",
                        "status": "resolved" if is_closed else "triggered",
                        "created_at": long_ago,
                    }
                    for i, is_closed in zip(rows, closed, strict=True)
                ],
            ).all()
            people_of = [_person(i, people) for i in rows]
            session.execute(
                insert(Notification),
                [
                    {
                        "alert_id": alert_id,
                        "channel": "sms",
                        "destination": person,
                        "state": "delivered",
                        "text": "page",
                        "created_at": long_ago,
                    }
                    for alert_id, person in zip(ids, people_of, strict=True)
                ],
            )
            session.execute(
                insert(AckCode),
                [
                    {
                        "alert_id": alert_id,
                        "alert_ids": [alert_id],
                        "destination": person,
                        "code": alert_id,
                        "active": not is_closed,
                        "created_at": long_ago,
                        "retired_at": long_ago if is_closed else None,
                    }
                    for alert_id, person, is_closed in zip(ids, people_of, closed, strict=True)
                ],
            )


def _measured_alerts(url: str, people: int) -> list[tuple[int, str]]:
    """MEASURED open alerts, each with a pending message to one of the people."""
    made = []
    with session_scope(url) as session:
        for i in range(MEASURED):
            alert = Alert(summary=f"measured {i}", severity="critical", source="history")
            session.add(alert)
            session.flush()
            person = _person(i, people)
            session.add(Notification(alert_id=alert.id, channel="sms", destination=person))
            made.append((alert.id, person))
    return made


def _timed(url: str, alerts: Sequence[tuple[int, str]], operation: Operation) -> list[float]:
    """Each operation in its own transaction; the time of the operation, not the commit."""
    spent = []
    for alert_id, person in alerts:
        with session_scope(url) as session:
            started = time.perf_counter()
            operation(session, alert_id, person)
            spent.append((time.perf_counter() - started) * 1000)
    return spent


def _page_code(session: Any, alert_id: int, person: str) -> object:
    return code_for(session, [alert_id], person)


def _resolve(session: Any, alert_id: int, person: str) -> object:
    return resolve(session, alert_id, by="bench", via="api")


def measure(url: str, past: int, open_count: int, people: int) -> Timings:
    """Migrate a fresh database, seed it, then page and resolve the measured alerts."""
    upgrade(url)
    seed_history(url, past, open_count, people)
    alerts = _measured_alerts(url, people)
    return Timings(_timed(url, alerts, _page_code), _timed(url, alerts, _resolve))


def _row(name: str, base: list[float], full: list[float]) -> str:
    b50, b95 = stats.percentile(base, 50), stats.percentile(base, 95)
    f50, f95 = stats.percentile(full, 50), stats.percentile(full, 95)
    ratio = f"{f50 / b50:.1f}x / {f95 / b95:.1f}x"
    return f"| {name} | {b50:.2f} / {b95:.2f} ms | {f50:.2f} / {f95:.2f} ms | {ratio} |"


def report(results: dict[str, tuple[Timings, Timings]], args: argparse.Namespace) -> str:
    lines = [
        "# History: a page's and an acknowledgement's database work as history grows",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {machine()}",
        f"- command: `python -m bench.history {' '.join(sys.argv[1:])}`".rstrip(),
        f"- source: {source_state()}",
        f"- with history: {args.past:,} closed alerts (a delivered message and a code "
        f"retired two days ago each) and {args.open:,} open ones (an active code each), "
        f"for {args.people} people; baseline: a fresh database",
        f"- measured: {MEASURED} alerts, one of the same people each: the page's reply "
        "code (`code_for`), then the alert resolved (`resolve`, which retires its codes); "
        "the time of the call inside its transaction, not the commit",
        "",
        "| database: operation | baseline (p50 / p95) | with history (p50 / p95) | ratio |",
        "|---|---|---|---|",
    ]
    for kind, (base, full) in results.items():
        lines.append(_row(f"{kind}: page's reply code", base.page_codes, full.page_codes))
        lines.append(_row(f"{kind}: resolve", base.resolves, full.resolves))
    lines += ["", *(f"- {kind}: {server_version(kind, args.pg_url)}" for kind in results)]
    return "\n".join(lines) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--db", choices=KINDS, action="append", help="default: both")
    parser.add_argument("--past", type=int, default=100_000, help="closed alerts kept")
    parser.add_argument("--open", type=int, default=2_000, help="other open alerts")
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results: dict[str, tuple[Timings, Timings]] = {}
    with bench_directory(args.workdir, "bench-history-") as workdir:
        for kind in args.db or KINDS:
            states = []
            for name, past, open_count in (("baseline", 0, 0), ("full", args.past, args.open)):
                with fresh_database(kind, workdir / f"{kind}-{name}", args.pg_url) as url:
                    states.append(measure(url, past, open_count, args.people))
            results[kind] = (states[0], states[1])
            print(f"history: {kind} done", flush=True)
    text = report(results, args)
    args.output.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
