"""The notice benchmark's processes: the Stack with its own simulator, and worker memory.

`NoticeStack` is `cli.stack.Stack` (embedded Redis, receiver, workers, beat,
each its own process) with `bench.notice_simulator` in place of the
simulator, so the account runs at the benchmark's rate and chosen numbers
send no delivery reports. `RssSampler` follows the resident memory of a
process tree (a Celery worker: supervisor, main process, pool children)
with psutil when it is installed, else from /proc.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from bench.common import REPO_ROOT
from cli.stack import SIMULATOR_AUTH_ID, SIMULATOR_AUTH_TOKEN, Stack, StackConfig

SAMPLE_S = 0.25


class NoticeStack(Stack):
    """The Stack, its simulator at `sms_per_second` with `quiet_numbers` silent."""

    def __init__(
        self, config: StackConfig, *, sms_per_second: float, quiet_numbers: Path | None
    ) -> None:
        super().__init__(config)
        self.sms_per_second = sms_per_second
        self.quiet_numbers = quiet_numbers

    def _spawn(self, name: str, args: list[str]) -> None:
        if name != "simulator":
            super()._spawn(name, args)
            return
        command = [
            sys.executable,
            "-m",
            "bench.notice_simulator",
            "--port",
            str(self.simulator_port),
            "--receiver-url",
            self.web_url,
            "--auth-id",
            SIMULATOR_AUTH_ID,
            "--auth-token",
            SIMULATOR_AUTH_TOKEN,
            "--sms-per-second",
            f"{self.sms_per_second:g}",
        ]
        if self.quiet_numbers is not None:
            command += ["--quiet-numbers", str(self.quiet_numbers)]
        log_file = open(self.logs_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        self._log_files.append(log_file)
        self.processes[name] = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=self.env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


# -- memory -----------------------------------------------------------------------


def _tree_rss_psutil(pid: int) -> dict[int, int]:
    import psutil

    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    found = {}
    for process in processes:
        try:
            found[process.pid] = process.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def _proc_rss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _proc_parents() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc/PID/stat."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces: the fields after it follow ")".
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            parents[int(entry.name)] = int(fields[1])
    return parents


def _tree_rss_proc(pid: int) -> dict[int, int]:
    parents = _proc_parents()
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    sizes = {p: _proc_rss(p) for p in tree}
    return {p: rss for p, rss in sizes.items() if rss is not None}


def tree_rss_reader() -> tuple[str, Callable[[int], dict[int, int]]]:
    """(how, reader): psutil when installed, else /proc."""
    try:
        import psutil  # noqa: F401
    except ImportError:
        return "/proc", _tree_rss_proc
    return "psutil", _tree_rss_psutil


class RssSampler:
    """Samples a process tree's memory every SAMPLE_S in a thread until stopped.

    `peak` is (largest single process, largest sum over the tree at one sample).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.how, self._read = tree_rss_reader()
        self.largest = 0
        self.largest_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sizes = self._read(self.pid)
            if sizes:
                self.largest = max(self.largest, max(sizes.values()))
                self.largest_total = max(self.largest_total, sum(sizes.values()))
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def peak(self) -> tuple[int, int] | None:
        return (self.largest, self.largest_total) if self.largest else None
