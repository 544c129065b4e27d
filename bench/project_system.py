"""alert-dispatch as deployed, for the performance suite: the Procfile's processes.

`cli.stack.Stack` starts Redis, the simulator, the receiver, the workers and
beat; this subclass changes two of them to match the Procfile and the
benchmark: the receiver runs under gunicorn with the Procfile's own `web`
line (gevent, WEB_CONCURRENCY workers), and the simulator is
`bench.sim_process`, whose account limits are raised so that it never binds.
Everything else (one worker of `-c 4`, beat, embedded Redis) is the Stack's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench import databases
from bench.common import REPO_ROOT
from cli.stack import SIMULATOR_AUTH_ID, SIMULATOR_AUTH_TOKEN, Stack, StackConfig

LABEL = "alert-dispatch"
API_TOKEN = "bench-token"
WORKER = "worker1"
WORKER_CONCURRENCY = 4
WEB_CONCURRENCY = 2


def procfile_command(process: str) -> str:
    """The command line the Procfile gives `process`."""
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise ValueError(f"no {process!r} process in the Procfile")


class BenchStack(Stack):
    """The Stack, with the receiver under gunicorn and the raised-limit simulator."""

    def _spawn(self, name: str, args: list[str]) -> None:
        if name == "web":
            env = {
                **self.env(),
                "PORT": str(self.web_port),
                "WEB_CONCURRENCY": str(WEB_CONCURRENCY),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            }
            self._start(name, ["bash", "-c", f"exec {procfile_command('web')}"], env)
        elif name == "simulator":
            command = [
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
            self._start(name, command, self.env())
        else:
            super()._spawn(name, args)

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        log_file = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self._log_files.append(log_file)
        self.processes[name] = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@dataclass
class ProjectSystem:
    """One running alert-dispatch, as the benchmarks see any system under test."""

    data_dir: Path
    database_url: str
    # Account and sender SMS/s (SMS_PER_SECOND, SENDER_SMS_PER_SECOND); None: the defaults.
    raised_limit: float | None = None
    oncall_config: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    label: str = LABEL
    api_token: str = API_TOKEN
    stack: BenchStack | None = None

    def _env(self) -> dict[str, str]:
        env = {"LOG_LEVEL": "INFO", **self.extra_env}
        if self.raised_limit is not None:
            env["SMS_PER_SECOND"] = f"{self.raised_limit:g}"
            env["SENDER_SMS_PER_SECOND"] = f"{self.raised_limit:g}"
        if self.oncall_config is not None:
            path = self.data_dir / "oncall.yaml"
            path.write_text(self.oncall_config)
            env["CONFIG_FILE"] = str(path)
        return env

    def start(self) -> ProjectSystem:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = StackConfig(
            data_dir=self.data_dir,
            database_url=self.database_url,
            api_token=self.api_token,
            worker_concurrency=WORKER_CONCURRENCY,
            workers=1,
            with_beat=True,
            extra_env=self._env(),
        )
        self.stack = BenchStack(config)
        self.stack.start()
        self.stack.wait_for_workers(timeout=60)
        return self

    def _stack(self) -> BenchStack:
        if self.stack is None:
            raise RuntimeError("the system is not running")
        return self.stack

    @property
    def web_url(self) -> str:
        return self._stack().web_url

    @property
    def simulator_url(self) -> str:
        return self._stack().simulator_url

    @property
    def redis_url(self) -> str:
        return self._stack().redis_url

    @property
    def logs_dir(self) -> Path:
        return self._stack().logs_dir

    def worker_pid(self) -> int:
        """The worker's first process (its whole pool runs under it)."""
        return self._stack().processes[WORKER].pid

    def web_pid(self) -> int:
        """The gunicorn master (its workers run under it)."""
        return self._stack().processes["web"].pid

    def kill_worker(self) -> None:
        """SIGKILL to the worker's whole process group, as a crash of its machine would."""
        self._stack().kill(WORKER)

    def start_worker(self) -> None:
        self._stack().start_worker(WORKER)
        self._stack().wait_for_workers(timeout=60)

    def count(self, sql: str) -> int:
        """A count from the system's database (read-only SQL written by the benchmark)."""
        return databases.count(self.database_url, sql)

    def accepted_sends(self) -> int:
        """SMS that Plivo accepted, as this system recorded them."""
        return self.count(
            "SELECT count(*) FROM notifications WHERE state IN ('queued', 'sent', 'delivered')"
        )

    def delivered(self) -> int:
        return self.count("SELECT count(*) FROM notifications WHERE state = 'delivered'")

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
            self.stack = None
        from shared.core.db import get_engine

        databases.forget(self.database_url)
        get_engine(self.database_url).dispose()

    def __enter__(self) -> ProjectSystem:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
