"""Start and stop the whole system as real processes: the demo and the tests use it.

Redis (embedded unless a URL is given), the Plivo simulator, the receiver,
workers and beat each run as their own OS process, talking over real sockets,
exactly as they would in production.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import requests

from shared.core.embedded_redis import EmbeddedRedis, ensure_embedded_redis
from simulator.config import DEFAULT_AUTH_ID, DEFAULT_AUTH_TOKEN

SIMULATOR_AUTH_ID = DEFAULT_AUTH_ID
SIMULATOR_AUTH_TOKEN = DEFAULT_AUTH_TOKEN
BACKUP_AUTH_ID = "MABACKUPSIMULATOR000"
BACKUP_AUTH_TOKEN = "backup-simulator-token"


# Every way a person, a terminal, systemd or a container runtime asks a process to stop.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """While active, SIGTERM and SIGHUP stop the program the way Ctrl-C does: as a
    KeyboardInterrupt, so the same `finally` stops every process the stack started.

    The stack's processes run in sessions of their own (a Ctrl-C in the terminal must
    not hit them before the stack stops them in order), so nothing else would stop them
    when this process is told to end. Only the first signal interrupts; once stopping
    (`stopping()`, or after that first signal) later ones are ignored, so a second
    Ctrl-C or a repeated SIGTERM cannot cut the cleanup short and leave processes behind.
    """

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._stopping = False
        self._previous: dict[int, object] = {}

    def _interrupt(self, signum: int, _frame: FrameType | None) -> None:
        if self._stopping:
            return
        self._stopping = True
        self.received = signal.Signals(signum)
        raise KeyboardInterrupt

    def stopping(self) -> None:
        """From now on, stop signals are ignored: cleanup has begun."""
        self._stopping = True

    def __enter__(self) -> StopSignals:
        for sig in STOP_SIGNALS:
            if signal.getsignal(sig) == signal.SIG_IGN:
                continue  # ignored on purpose (nohup, a background job): still ignored
            self._previous[sig] = signal.signal(sig, self._interrupt)
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._previous.clear()


# Below Linux's ephemeral range (32768-60999), which the kernel hands out to
# outgoing connections: a port taken from there (bind to port 0) can be taken
# again by any client socket before the server that was meant to get it binds it
# (seen: a worker's metrics port, "Address already in use").
LISTEN_PORTS = range(20000, 32768)


def free_port() -> int:
    """A port nobody listens on now, for a server this process is about to start."""
    while True:
        port = random.choice(LISTEN_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port


@dataclass
class StackConfig:
    data_dir: Path
    database_url: str | None = None
    redis_url: str | None = None
    api_token: str = "demo-token"
    worker_concurrency: int = 2
    workers: int = 1
    with_beat: bool = False
    # A second simulated Plivo account, configured as the backup provider.
    backup_simulator: bool = False
    log_level: str = "INFO"
    extra_env: dict[str, str] = field(default_factory=dict)


class Stack:
    """The running system; `stop()` (or the context manager) ends every process."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir.resolve()
        self.logs_dir = self.data_dir / "logs"
        self.web_port = free_port()
        self.simulator_port = free_port()
        self.backup_port = free_port()
        self.processes: dict[str, subprocess.Popen] = {}
        self._log_files: list[object] = []
        self._redis: EmbeddedRedis | None = None
        self.redis_url = config.redis_url or ""

    # -- addresses ----------------------------------------------------------

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    @property
    def backup_simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.backup_port}"

    @property
    def database_url(self) -> str:
        return self.config.database_url or f"sqlite:///{self.data_dir / 'alert-dispatch.db'}"

    @property
    def metrics_dir(self) -> Path:
        return self.data_dir / "metrics"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "DATA_DIR": str(self.data_dir),
                "REDIS_URL": self.redis_url,
                "DATABASE_URL": self.database_url,
                "PLIVO_AUTH_ID": SIMULATOR_AUTH_ID,
                "PLIVO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
                "PLIVO_BASE_URL": self.simulator_url,
                "PLIVO_FROM": "+14155550000",
                "PUBLIC_BASE_URL": self.web_url,
                "API_TOKENS": self.config.api_token,
                # One directory for every process of the stack: the receiver's
                # /metrics shows the workers' counts too, so the workers need no
                # endpoint of their own (several would contend for one port).
                "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
                "WORKER_METRICS_PORT": os.environ.get("WORKER_METRICS_PORT", "0"),
                "LOG_LEVEL": self.config.log_level,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self.config.backup_simulator:
            env.update(
                {
                    "PLIVO_BACKUP_AUTH_ID": BACKUP_AUTH_ID,
                    "PLIVO_BACKUP_AUTH_TOKEN": BACKUP_AUTH_TOKEN,
                    "PLIVO_BACKUP_BASE_URL": self.backup_simulator_url,
                }
            )
        env.update(self.config.extra_env)
        return env

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> Stack:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.metrics_dir, ignore_errors=True)
        self.metrics_dir.mkdir(parents=True)
        if not self.redis_url:
            self._redis = ensure_embedded_redis(self.data_dir)
            self.redis_url = self._redis.url
        try:
            from shared.core.db import upgrade

            upgrade(self.database_url)
            # Each simulator sends only to this stack's receiver.
            receiver = ["--receiver-url", self.web_url]
            self._spawn(
                "simulator",
                [
                    "simulator",
                    "--port",
                    str(self.simulator_port),
                    "--auth-id",
                    SIMULATOR_AUTH_ID,
                    "--auth-token",
                    SIMULATOR_AUTH_TOKEN,
                    *receiver,
                ],
            )
            if self.config.backup_simulator:
                self._spawn(
                    "simulator-backup",
                    [
                        "simulator",
                        "--port",
                        str(self.backup_port),
                        "--auth-id",
                        BACKUP_AUTH_ID,
                        "--auth-token",
                        BACKUP_AUTH_TOKEN,
                        *receiver,
                    ],
                )
            self._spawn("web", ["web", "--port", str(self.web_port)])
            for index in range(self.config.workers):
                self.start_worker(f"worker{index + 1}")
            if self.config.with_beat:
                self.start_beat()
            self._wait_http(f"{self.simulator_url}/_sim/requests", "simulator")
            if self.config.backup_simulator:
                self._wait_http(f"{self.backup_simulator_url}/_sim/requests", "simulator-backup")
            self._wait_http(f"{self.web_url}/healthz", "web")
        except BaseException:
            self.stop()
            raise
        return self

    def start_web(self) -> None:
        """The receiver again (after a kill), on its port, answering when this returns."""
        self._spawn("web", ["web", "--port", str(self.web_port)])
        self._wait_http(f"{self.web_url}/healthz", "web")

    def start_worker(self, name: str = "worker1") -> None:
        self._spawn(name, ["worker", "-c", str(self.config.worker_concurrency), "--name", name])

    def start_beat(self, name: str = "beat") -> None:
        """A beat; several may run (as on several hosts): one leads, the others stand by."""
        self._spawn(name, ["beat"])

    def _spawn(self, name: str, args: list[str]) -> None:
        log_file = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self._log_files.append(log_file)
        command = [sys.executable, "-m", "cli", *args]
        self.processes[name] = subprocess.Popen(
            command,
            env=self.env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _wait_http(self, url: str, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes.get(name)
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{name} exited at start; see {self.logs_dir / name}.log")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer within {timeout:.0f}s")

    def wait_for_workers(self, timeout: float = 30.0) -> None:
        """Until every worker answers a ping over the broker."""
        from shared.core.embedded_redis import broker_url_for

        names = {n for n in self.processes if n.startswith("worker")}
        wait_for_celery_workers(broker_url_for(self.redis_url), names, timeout)

    def restart_redis(self, down_s: float = 0.0) -> None:
        """Stop the embedded Redis (losing everything it held: it keeps nothing on
        disk), wait `down_s`, and start a new one on the same socket."""
        if self._redis is None:
            raise RuntimeError("only the stack's own embedded Redis can be restarted")
        self._redis.stop()
        time.sleep(down_s)
        self._redis = ensure_embedded_redis(self.data_dir)

    def stop_redis(self) -> None:
        if self._redis is None:
            raise RuntimeError("only the stack's own embedded Redis can be stopped")
        self._redis.stop()

    def start_redis(self) -> None:
        self._redis = ensure_embedded_redis(self.data_dir)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a process and its children (a worker's pool), as a crash would."""
        process = self.processes.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        process.wait(timeout=15)

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        for log_file in self._log_files:
            log_file.close()  # type: ignore[attr-defined]
        self._log_files.clear()
        if self._redis is not None:
            self._redis.stop()
            self._redis = None

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def wait_for_celery_workers(broker_url: str, names: Collection[str], timeout: float = 30.0) -> None:
    """Until every Celery worker named (the part of its node name before "@") answers a
    ping over the broker; RuntimeError after `timeout`. The one wait for started workers:
    the stack, the benchmarks' baselines and the naive pager use it."""
    from celery import Celery

    wanted = set(names)
    probe = Celery(broker=broker_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                # Returns as soon as every worker answered (`limit`), not after the
                # whole timeout; a ping sent before a starting worker listens is lost.
                replies = probe.control.ping(timeout=0.5, limit=len(wanted)) or []
            except Exception:  # a broker that just restarted: ask again
                probe.pool.force_close_all()
                time.sleep(0.2)
                continue
            answered = {next(iter(r)).split("@")[0] for r in replies}
            if wanted <= answered:
                return
            time.sleep(0.1)
    finally:
        probe.close()
    raise RuntimeError(f"workers {sorted(wanted)} did not answer within {timeout:.0f}s")
