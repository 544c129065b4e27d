"""A new user's first minutes with the CLI: every mistake is one line, every stop is clean."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
STOP_WITHIN_S = 20.0


def run(
    *args: str, module: str = "cli", timeout: float = 20, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The command in its own process group, killed whole if it outlives `timeout`
    (a refused option must end at once; one that is not must not leave a worker behind)."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def assert_one_line_refusal(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert all(word in result.stderr for word in words), result.stderr


class Demo:
    """`alert-dispatch demo` as a real process, its output collected line by line."""

    def __init__(self, *args: str) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cli", "demo", *args],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def said(self, text: str) -> bool:
        if self.process.poll() is not None and not any(text in line for line in self.lines):
            self._reader.join(timeout=5)
            raise AssertionError(f"demo exited ({self.process.returncode}):\n{self.output}")
        return any(text in line for line in self.lines)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)


def stop_and_check_everything_ends(demo: Demo, sig: signal.Signals) -> None:
    """Send `sig`; the demo and every process it started must be gone within STOP_WITHIN_S."""
    children = demo.descendants()
    names = " ".join(" ".join(c.cmdline()) for c in children)
    for part in ("redis-server", "simulator", "web", "worker", "beat"):
        assert part in names, f"{part} not running before the signal: {names}"
    try:
        demo.process.send_signal(sig)
        demo.process.wait(timeout=STOP_WITHIN_S)
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, f"still running after {sig.name}: {[p.cmdline() for p in alive]}"
        demo._reader.join(timeout=5)
        assert "Traceback" not in demo.output
    finally:
        for child in children:  # never leave a test's processes behind
            if child.is_running():
                child.kill()
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()


# -- 1. the data directory --------------------------------------------------


def test_demo_creates_a_data_dir_that_does_not_exist_and_stops_halfway(tmp_path):
    """Stopped while it runs (before it serves), the demo ends every process it started."""
    data_dir = tmp_path / "not" / "yet" / "here"
    demo = Demo("--data-dir", str(data_dir))
    wait_for(lambda: demo.said("receiver  http://"), timeout=60, what="the stack started")
    assert (data_dir / "oncall.yaml").is_file()
    assert (data_dir / "logs").is_dir()
    stop_and_check_everything_ends(demo, signal.SIGTERM)


def test_demo_refuses_a_data_dir_that_is_a_file(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert_one_line_refusal(run("demo", "--data-dir", str(a_file)), str(a_file), "not a directory")
    assert_one_line_refusal(run("demo", "--data-dir", str(a_file / "demo")), str(a_file / "demo"))
    assert a_file.read_text() == "mine"


# -- 2. every way of stopping it stops everything ---------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_demo_serve_stops_everything_on(sig, tmp_path):
    demo = Demo("--serve", "--data-dir", str(tmp_path))
    wait_for(lambda: demo.said("Press Ctrl-C to stop"), timeout=90, what="the demo serving")
    stop_and_check_everything_ends(demo, sig)
    assert demo.process.returncode == 0
    assert not (tmp_path / "redis.sock").exists()


# -- 3. ports ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("simulator", "--port", "99999"),
        ("simulator", "--port", "-1"),
        ("web", "--port", "65536"),
    ],
    ids=" ".join,
)
def test_an_impossible_port_is_refused(args, tmp_path):
    result = run(*args, env={"DATA_DIR": str(tmp_path)})
    assert_one_line_refusal(result, "--port", args[-1], "range")
    assert "listening" not in result.stdout and "simulator on" not in result.stdout


def test_the_simulator_module_refuses_an_impossible_port():
    result = run("--port", "99999", module="simulator")
    assert_one_line_refusal(result, "--port", "99999")


# -- 4. counts and durations ------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("alerts", "--limit", "-5"),
        ("alerts", "--limit", "0"),
        ("worker", "-c", "0"),
        ("worker", "--concurrency", "-2"),
        ("demo", "--timeout", "-1"),
        ("ack", "0"),
        ("bridge", "--claim-idle-ms", "-1"),
    ],
    ids=" ".join,
)
def test_a_non_positive_number_is_refused(args, tmp_path):
    result = run(*args, env={"DATA_DIR": str(tmp_path)})
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "range" in result.stderr and "Traceback" not in result.stderr
