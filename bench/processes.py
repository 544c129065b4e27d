"""Named OS processes for a baseline: started in sessions of their own, stopped as groups.

The baseline systems of the benchmarks are started the way `cli.stack.Stack`
starts alert-dispatch (one session per process, logs in files, SIGTERM to the
group and SIGKILL if it lingers), so both are torn down alike.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import IO

import requests

from bench.common import REPO_ROOT


class ProcessGroup:
    """Processes by name; `stop()` ends every one still running, newest first."""

    def __init__(self, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[IO[bytes]] = []

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        log_file = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self._logs.append(log_file)
        self.processes[name] = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_http(self, name: str, url: str, timeout: float = 60.0) -> None:
        """Until `url` answers 200; fails early, naming the log, if `name` exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited at start; see {self.logs_dir / name}.log")
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer {url} within {timeout:.0f}s")

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal the process's whole group (a Celery worker and its pool) and reap it."""
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
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        for log_file in self._logs:
            log_file.close()
        self._logs.clear()
