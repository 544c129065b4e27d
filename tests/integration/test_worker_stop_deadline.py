"""A worker whose stop after an unrecoverable error hangs is ended and started again.

Seen here after a broker outage: Celery's main process logged "Unrecoverable
error", began a warm shutdown and never finished it, so the supervisor never
restarted it and nothing was paged any more. The worker of
tests.worker_that_breaks_once fails the same way in its first life, under the
real supervisor, as `alert-dispatch worker` runs it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from celery import Celery

from cli.stack import free_port
from shared.core.embedded_redis import broker_url_for
from tests.polling import wait_for

DEADLINE_S = 3.0

SUPERVISED = textwrap.dedent(
    """
    import logging, sys
    from cli.supervise import run_supervised
    logging.basicConfig(level=logging.INFO)
    command = [sys.executable, "-m", "celery", "-A", "tests.worker_that_breaks_once",
               "worker", "-c", "1", "-n", "breaks-once@%h", "--loglevel", "INFO"]
    sys.exit(run_supervised(command, "worker"))
    """
)


def _processes_in_group(group: int) -> list[int]:
    found = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


@pytest.fixture
def supervised_worker(broker_env: str, tmp_path: Path):
    env = {
        **os.environ,
        "WORKER_TEST_DIR": str(tmp_path),
        "WORKER_STOP_DEADLINE_S": str(DEADLINE_S),
        "WORKER_METRICS_PORT": str(free_port()),
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    log_path = tmp_path / "supervisor.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-c", SUPERVISED],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process, log_path
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def test_a_worker_hung_in_its_stop_after_an_unrecoverable_error_is_restarted(
    supervised_worker, broker_env: str
):
    process, log_path = supervised_worker

    def log() -> str:
        return log_path.read_text(errors="replace")

    wait_for(lambda: "Unrecoverable error" in log(), timeout=60, what="the first life failing")
    wait_for(
        lambda: "worker exited with status 1; starting it again" in log(),
        timeout=DEADLINE_S + 20,
        what="the hung worker exiting for the supervisor to restart it",
    )
    assert "exiting now" in log()

    probe = Celery(broker=broker_url_for(broker_env))
    try:
        wait_for(
            lambda: any("breaks-once@" in next(iter(r)) for r in probe.control.ping(timeout=0.5)),
            timeout=60,
            what="the restarted worker answering on the broker",
        )
    finally:
        probe.close()
    # The first life's pool child was killed with it: the supervisor, the new worker
    # and its one child remain.
    wait_for(
        lambda: len(_processes_in_group(process.pid)) == 3,
        timeout=15,
        what="only the supervisor, the new worker and its child left",
    )
