"""What every benchmark of the performance suite shares: the run's options, the two
systems under test started on fresh databases, and a warm-up.

Each benchmark starts its own systems, one after the other (never both at
once: they would share the two cores), each on a database of its own, and
throws away the first pages after a start (imports, connection pools and
SQLite's first checkpoint are not what is measured).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from bench.common import destinations
from bench.databases import fresh_database

# Account and sender SMS/s when a benchmark raises the limit: far above any rate offered.
RAISED_LIMIT = 1000.0
WARM_UP_ALERTS = 5
# The measured numbers start after the warm-up's, so no measured number was paged before.
WARM_UP_BLOCK = 100


class System(Protocol):
    """What a benchmark needs of a running system, alert-dispatch or the naive pager."""

    label: str
    api_token: str
    database_url: str
    logs_dir: Path

    @property
    def web_url(self) -> str: ...
    @property
    def simulator_url(self) -> str: ...
    @property
    def redis_url(self) -> str: ...
    def worker_pid(self) -> int: ...
    def web_pid(self) -> int: ...
    def kill_worker(self) -> None: ...
    def start_worker(self) -> None: ...
    def accepted_sends(self) -> int: ...
    def delivered(self) -> int: ...
    def count(self, sql: str) -> int: ...


@dataclass
class Context:
    """The options of one run of the suite."""

    database: str
    pg_url: str
    quick: bool
    workdir: Path
    command: str
    profile: bool = False
    profile_dir: Path | None = None
    context: dict[str, str] = field(default_factory=dict)

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    def date(self) -> str:
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


@contextlib.contextmanager
def running(
    ctx: Context, benchmark: str, which: str, *, database: str | None = None, **options: Any
) -> Iterator[System]:
    """A started system (`which`: "project", "naive" or "floor") on a fresh database, stopped
    after."""
    from bench.naive.system import FLOOR_LABEL, FLOOR_WEB_APP, NaiveSystem
    from bench.project_system import ProjectSystem

    kind = database or ctx.database
    directory = ctx.workdir / benchmark / f"{which}-{kind}-{time.monotonic_ns()}"
    with fresh_database(kind, directory, ctx.pg_url) as url:
        system: Any
        if which == "project":
            system = ProjectSystem(data_dir=directory, database_url=url, **options)
        elif which == "naive":
            system = NaiveSystem(data_dir=directory, database_url=url, **options)
        elif which == "floor":
            system = NaiveSystem(
                data_dir=directory,
                database_url=url,
                label=FLOOR_LABEL,
                web_app=FLOOR_WEB_APP,
                **options,
            )
        else:
            raise ValueError(f"unknown system {which!r}")
        print(f"{benchmark}: starting {system.label} on {kind} in {directory}", flush=True)
        with system:
            yield system


def numbers(count: int) -> list[str]:
    """`count` distinct numbers, none of them among the warm-up's."""
    return destinations(WARM_UP_BLOCK + count)[WARM_UP_BLOCK:]


def warm_up(system: System, timeout: float = 60.0) -> None:
    """A few alerts paged end to end, so the measured ones meet a warm system."""
    from bench.load import alert_posters, offer, wait_for_pages

    warm = destinations(WARM_UP_ALERTS)
    offer(warm, alert_posters(system.web_url, system.api_token, "warm-up"), threads=1)
    _, complete = wait_for_pages(system.simulator_url, warm, timeout, settle_s=0.5)
    if not complete:
        raise RuntimeError(f"{system.label}: warm-up pages did not arrive within {timeout:.0f}s")


@contextlib.contextmanager
def profiled(ctx: Context, system: System, name: str) -> Iterator[None]:
    """With --profile, py-spy samples alert-dispatch's receiver and worker for the block
    and a summary of each is printed and kept in the profile directory."""
    from bench import profiling
    from bench.project_system import LABEL

    if not ctx.profile or system.label != LABEL or ctx.profile_dir is None:
        yield
        return
    out_dir = ctx.profile_dir / name
    targets = {"web": system.web_pid(), "worker": system.worker_pid()}
    with profiling.sampling(targets, out_dir) as files:
        yield
    lines: list[str] = [f"### profile: {name}", ""]
    for role, path in files.items():
        lines += profiling.render(f"{role} ({name})", profiling.read_profile(path))
    summary = "\n".join(lines)
    (out_dir / "summary.md").write_text(summary)
    print(summary, flush=True)
