"""`alert-dispatch demo notice` as a person runs it: a real process that starts the whole
stack, lets beat send a notice's two reminders, and ends with every subscriber reached."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
SUBSCRIBERS = 40  # the default is 200; fewer keep the test short, the path is the same
RUN_WITHIN_S = 120.0


@pytest.fixture
def demo_notice(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """The demo's process; whatever it started is ended even if the test fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "demo", "notice", "--subscribers", str(SUBSCRIBERS)]
        + ["--data-dir", str(tmp_path / "demo")],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: list[psutil.Process] = []
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(psutil.NoSuchProcess):
                children = psutil.Process(process.pid).children(recursive=True)
            process.send_signal(signal.SIGTERM)  # the demo stops what it started
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for child in children:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def test_the_notice_demo_reaches_every_subscriber_twice_and_exits_0(demo_notice) -> None:
    output, _ = demo_notice.communicate(timeout=RUN_WITHIN_S)
    assert demo_notice.returncode == 0, output
    assert "Traceback" not in output
    # Each reminder's progress ends at every number handed over and delivered.
    finals = [line for line in output.splitlines() if line.startswith(f"{SUBSCRIBERS}/")]
    done = f"handed off {SUBSCRIBERS} · delivered {SUBSCRIBERS} · failed 0 · skipped 0 · left 0"
    assert sum(done in line for line in finals) >= 2, output
    # The summary: both reminders, every number handed to Plivo in bulk requests.
    summary = re.findall(
        rf"(-5s|start) \(due [\d:]+ UTC\): {SUBSCRIBERS}/{SUBSCRIBERS} handed to Plivo "
        rf"in (\d+) bulk requests.*; {SUBSCRIBERS} delivered, 0 failed, 0 skipped",
        output,
    )
    assert [reminder for reminder, _ in summary] == ["-5s", "start"], output
    assert all(1 < int(requests) < SUBSCRIBERS for _, requests in summary), summary
    assert f"Every subscriber got both reminders: {2 * SUBSCRIBERS} SMS." in output
