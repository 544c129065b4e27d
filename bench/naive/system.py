"""The naive pager running: Redis, the simulator, gunicorn and one Celery worker.

Laid out like alert-dispatch's Procfile (gunicorn with gevent workers, a
Celery worker of four prefork children, an embedded Redis) on the same
machine and the same database kind, with the same raised-limit simulator,
so the two systems differ only in what their code does.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import databases
from bench.processes import ProcessGroup
from cli.stack import SIMULATOR_AUTH_ID, SIMULATOR_AUTH_TOKEN, free_port, wait_for_celery_workers
from shared.core.embedded_redis import EmbeddedRedis, broker_url_for, ensure_embedded_redis

LABEL = "naive pager"
WEB_APP = "bench.naive.web:app"
# The floor pager (bench.naive.floor_web): the same processes, a receiver that only sends.
FLOOR_LABEL = "floor pager"
FLOOR_WEB_APP = "bench.naive.floor_web:app"
API_TOKEN = "bench-token"
ONCALL_NUMBER = "+14155550199"
WORKER = "worker"
WORKER_NAME = "naive"
WORKER_CONCURRENCY = 4
WEB_CONCURRENCY = 2
WORKER_CONNECTIONS = 500


@dataclass
class NaiveSystem:
    """One running naive pager, with the interface the benchmarks use for any system."""

    data_dir: Path
    database_url: str
    label: str = LABEL
    api_token: str = API_TOKEN
    oncall_number: str = ONCALL_NUMBER
    web_app: str = WEB_APP  # FLOOR_WEB_APP runs the floor pager

    def __post_init__(self) -> None:
        self.web_port = free_port()
        self.simulator_port = free_port()
        self.logs_dir = self.data_dir / "logs"
        self.group = ProcessGroup(self.logs_dir)
        self._redis: EmbeddedRedis | None = None

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.simulator_port}"

    @property
    def redis_url(self) -> str:
        if self._redis is None:
            raise RuntimeError("the system is not running")
        return self._redis.url

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "NAIVE_DATABASE_URL": self.database_url,
            "NAIVE_BROKER_URL": broker_url_for(self.redis_url),
            "NAIVE_PLIVO_BASE_URL": self.simulator_url,
            "NAIVE_PLIVO_AUTH_ID": SIMULATOR_AUTH_ID,
            "NAIVE_PLIVO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
            "NAIVE_PLIVO_FROM": "+14155550000",
            "NAIVE_PUBLIC_URL": self.web_url,
            "NAIVE_API_TOKEN": self.api_token,
            "NAIVE_ONCALL_NUMBER": self.oncall_number,
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> NaiveSystem:
        from bench.naive.store import create_schema

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._redis = ensure_embedded_redis(self.data_dir)
        try:
            create_schema(self.database_url)
            self.group.spawn("simulator", self._simulator_command(), self.env())
            self.group.spawn("web", self._web_command(), self.env())
            self.start_worker()
            self.group.wait_http("simulator", f"{self.simulator_url}/_sim/requests")
            self.group.wait_http("web", f"{self.web_url}/healthz")
        except BaseException:
            self.stop()
            raise
        return self

    def _simulator_command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "bench.sim_process",
            "--port",
            str(self.simulator_port),
            "--receiver-url",
            self.web_url,
            "--auth-id",
            SIMULATOR_AUTH_ID,
            "--auth-token",
            SIMULATOR_AUTH_TOKEN,
        ]

    def _web_command(self) -> list[str]:
        return [
            str(Path(sys.executable).parent / "gunicorn"),
            "-k",
            "gevent",
            "-w",
            str(WEB_CONCURRENCY),
            "--worker-connections",
            str(WORKER_CONNECTIONS),
            "-b",
            f"127.0.0.1:{self.web_port}",
            self.web_app,
        ]

    def start_worker(self) -> None:
        command = [sys.executable, "-m", "celery", "-A", "bench.naive.tasks", "worker"]
        command += ["-c", str(WORKER_CONCURRENCY), "-n", f"{WORKER_NAME}@%h"]
        command += ["--loglevel", "INFO"]
        self.group.spawn(WORKER, command, self.env())
        wait_for_celery_workers(broker_url_for(self.redis_url), [WORKER_NAME], timeout=60)

    def worker_pid(self) -> int:
        return self.group.pid(WORKER)

    def web_pid(self) -> int:
        return self.group.pid("web")

    def kill_worker(self) -> None:
        self.group.kill(WORKER)

    def count(self, sql: str) -> int:
        return databases.count(self.database_url, sql)

    def accepted_sends(self) -> int:
        return self.count("SELECT count(*) FROM naive_messages")

    def delivered(self) -> int:
        return self.count("SELECT count(*) FROM naive_messages WHERE status = 'delivered'")

    def stop(self) -> None:
        from bench.naive.store import engine

        self.group.stop()
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        databases.forget(self.database_url)
        engine(self.database_url).dispose()

    def __enter__(self) -> NaiveSystem:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
