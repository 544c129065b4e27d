"""A notice going out while worker processes die: every number gets it exactly once.

Real processes: the receiver, one worker of three pool processes, two beats
(one leads, the other stands by), and a Plivo simulator at the account's pace.
While a notice to 1,200 numbers goes out, every pool process of the worker is
SIGKILLed three times, mid-request or not: a killed process's batch task goes
back to the queue (acks late, rejected on worker loss), or, lost with the
killed worker itself, is handed over by beat once the send has gone quiet
for longer than any live chain does (shared.notices.chain_timing: about
16 s with these timeouts); the claims it left are settled against Plivo's
message list before anything is sent again. The simulator's request log is
the judge: each number accepted once, none twice.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest

from cli.stack import Stack, StackConfig
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.polling import wait_for

RATE = 150  # SMS per second: the notice takes about 8 s, long enough to be hit
NUMBERS = [f"+1628555{i:04d}" for i in range(1200)]
KILLS = 3


def oncall(due: datetime) -> str:
    return f"""
contacts:
  ops: {{phone: "+14155550990"}}
policies:
  p:
    steps:
      - {{targets: [ops], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  everyone: {{csv: everyone.csv}}
notices:
  upgrade:
    title: Storage upgrade
    window: {{start: "{due:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{lists: [everyone]}}
    templates: {{sms: "{{title}} starts {{start}} for {{duration}}."}}
"""


def accepted(sim: RunningSimulator) -> Counter[str]:
    """How many times the simulator accepted each number, over every bulk request."""
    return Counter(
        "+" + number
        for r in sim.state.requests()
        if r["method"] == "POST" and r["path"].endswith("/Message/") and r["status"] == 202
        for number in r["body"]["dst"].split("<")
    )


def kill_pool_processes(stack: Stack) -> int:
    """SIGKILL every pool process of the worker (its parent stays and starts new ones)."""
    parent = psutil.Process(stack.processes["worker1"].pid)
    pool = [p for p in parent.children(recursive=True) if "celery" in " ".join(p.cmdline())]
    for process in pool:
        with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
            os.kill(process.pid, signal.SIGKILL)
    return len(pool)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Stack, RunningSimulator, Path]]:
    config = tmp_path / "oncall.yaml"
    (tmp_path / "everyone.csv").write_text("phone\n" + "\n".join(NUMBERS) + "\n")
    config.write_text(oncall(datetime.now(UTC) + timedelta(days=1)))
    stack = Stack(
        StackConfig(
            data_dir=tmp_path,
            worker_concurrency=3,
            with_beat=True,
            extra_env={
                "CONFIG_FILE": str(config),
                "SMS_PER_SECOND": str(RATE),
                "SENDER_SMS_PER_SECOND": str(RATE),
                "BUNDLE_WINDOW_S": "0",
                # A claim older than these (plus a second) is settled at Plivo, and a send
                # quiet for a few seconds more is handed over: short, so the test does
                # not wait out the production timeouts.
                "PLIVO_CONNECT_TIMEOUT": "1",
                "PLIVO_READ_TIMEOUT": "2",
            },
        )
    )
    quiet = {number: {"sms": "no-callback"} for number in NUMBERS}
    sim = start_in_thread(
        SimulatorConfig(sms_per_second=RATE, receiver_url=stack.web_url, scenarios=quiet)
    )
    stack.config.extra_env["PLIVO_BASE_URL"] = sim.url
    try:
        with stack:
            stack.start_beat("beat2")  # a second beat, as on a second host
            stack.wait_for_workers()
            yield stack, sim, config
    finally:
        sim.stop()


# Recovery waits for the worker's restart and beat's hand-over of the quiet send
# (about 16 s): on a loaded machine, more than the suite's default per-test limit.
@pytest.mark.timeout(200)
def test_pool_processes_killed_mid_notice_leave_no_number_twice_and_none_out(running) -> None:
    stack, sim, config = running
    due = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    config.write_text(oncall(due))  # the processes read the file anew

    wait_for(lambda: len(accepted(sim)) >= 100, timeout=30, what="the notice under way")
    killed = 0
    for _ in range(KILLS):
        killed += kill_pool_processes(stack)
        time.sleep(1.5)
    assert killed >= KILLS  # the worker's pool really was hit each time

    wait_for(
        lambda: set(accepted(sim)) >= set(NUMBERS),
        timeout=100,
        interval=0.5,
        what="every number reached despite the kills",
    )
    time.sleep(3)  # a late resend would show now
    counts = accepted(sim)
    twice = sorted(number for number in NUMBERS if counts[number] > 1)
    assert twice == []
    assert sum(counts[number] for number in NUMBERS) == len(NUMBERS)
