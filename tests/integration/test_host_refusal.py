"""A second host beside SQLite or a Redis of one machine's own is refused, in one line.

Real `alert-dispatch beat` processes, each under a host name of its own (`unshare
--uts`, so root), on a real PostgreSQL and a real Redis server on TCP. Host A runs
as production should: PostgreSQL and a shared Redis. Host B then starts with
one of them left local and must refuse, naming host A and what to set; with both
shared it starts. A process of host A itself may keep its database beside it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.databases import POSTGRESQL, fresh_database
from bench.scale_out_system import pg_url_default, redis_server, unavailable
from shared.core.host_presence import Presence, from_member
from shared.core.host_registry import REGISTRY_KEY
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database and a Redis server on TCP, as two hosts would share."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("a host name of its own per process needs root and `unshare`")
    reason = unavailable("redis", pg_url_default())
    if reason:
        pytest.skip(reason)
    directory = tmp_path_factory.mktemp("shared")
    with (
        fresh_database(POSTGRESQL, directory, pg_url_default()) as database_url,
        redis_server(("127.0.0.1",), directory / "redis") as port,
    ):
        from shared.core.db import upgrade

        upgrade(database_url)
        yield {"DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}


def beat_on(host: str) -> list[str]:
    """`alert-dispatch beat` under the host name `host` (the same pid: each step execs)."""
    return [
        "unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', host,
        sys.executable, "-m", "cli", "beat",
    ]  # fmt: skip


def process_env(settings: dict[str, str], data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(settings)
    env.update({"DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), "WORKER_METRICS_PORT": "0"})
    return env


def announced(redis_url: str) -> list[Presence]:
    """The live processes in the shared Redis's registry."""
    client = redis.Redis.from_url(redis_url)
    found = (from_member(m) for m in client.zrange(REGISTRY_KEY, 0, -1))
    return [p for p in found if p is not None]


def start_beat(host: str, settings: dict[str, str], data_dir: Path) -> subprocess.Popen[bytes]:
    """A beat on `host`, its output in `data_dir`/beat.log."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "beat.log", "wb") as log:
        return subprocess.Popen(
            beat_on(host),
            env=process_env(settings, data_dir),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=ROOT,
        )


def refusal(host: str, settings: dict[str, str], data_dir: Path) -> str:
    """Start a beat on `host`; it must exit with status 2: the lines it printed."""
    done = subprocess.run(
        beat_on(host),
        env=process_env(settings, data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    return done.stderr.strip()


@pytest.fixture(scope="module")
def host_a(shared: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    process = start_beat("host-a", shared, tmp_path_factory.mktemp("host-a"))
    try:
        wait_for(
            lambda: "host-a" in {p.host for p in announced(shared["REDIS_URL"])},
            60,
            what="host-a announced",
        )
        yield
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


def test_a_second_host_on_sqlite_is_refused_through_the_shared_redis(
    shared: dict[str, str], host_a: None, tmp_path: Path
) -> None:
    on_sqlite = {"REDIS_URL": shared["REDIS_URL"]}  # DATABASE_URL unset: SQLite
    line = refusal("host-b", on_sqlite, tmp_path)
    assert len(line.splitlines()) == 1
    assert line.startswith(
        "alert-dispatch: refusing to start: another host (host-a) shares this Redis (REDIS_URL)"
        " while this process keeps its database in SQLite on this host only"
    )
    assert "DATABASE_URL on one PostgreSQL and REDIS_URL on one Redis" in line


def test_a_second_host_with_its_own_redis_is_refused_through_postgresql(
    shared: dict[str, str], host_a: None, tmp_path: Path
) -> None:
    own_redis = {"DATABASE_URL": shared["DATABASE_URL"]}  # REDIS_URL unset: embedded
    line = refusal("host-b", own_redis, tmp_path)
    assert len(line.splitlines()) == 1
    assert "another host (host-a) shares this PostgreSQL database (DATABASE_URL)" in line
    assert "a Redis of its own" in line


def test_a_second_host_sharing_both_runs_and_leaves_the_registry_at_a_clean_stop(
    shared: dict[str, str], host_a: None, tmp_path: Path
) -> None:
    host_b = start_beat("host-b", shared, tmp_path)
    try:
        wait_for(
            lambda: host_b.pid in {p.pid for p in announced(shared["REDIS_URL"])},
            60,
            what="host-b announced, past the check",
        )
        assert host_b.poll() is None
        # Stopped once it runs as a beat (a standby: host A leads), not while starting.
        log = tmp_path / "beat.log"
        wait_for(lambda: "beat: standing by" in log.read_text(), 60, what="host-b standing by")
    finally:
        os.killpg(host_b.pid, signal.SIGTERM)
        host_b.wait(timeout=30)
    assert "host-b" not in {p.host for p in announced(shared["REDIS_URL"])}


def test_one_host_may_keep_a_database_of_its_own_beside_its_other_processes(
    shared: dict[str, str], host_a: None, tmp_path: Path
) -> None:
    beside = start_beat("host-a", {"REDIS_URL": shared["REDIS_URL"]}, tmp_path)
    try:
        wait_for(
            lambda: beside.pid in {p.pid for p in announced(shared["REDIS_URL"])},
            60,
            what="announced, past the check",
        )
        assert beside.poll() is None
    finally:
        os.killpg(beside.pid, signal.SIGKILL)
        beside.wait(timeout=15)
