"""Keep a child process running: restart it when it dies of something it could not handle.

A Celery worker whose broker connection breaks at the wrong moment can exit
with an "unrecoverable error" from deep in its transport instead of
reconnecting (seen here: a Redis restart while unacknowledged messages were
being restored). Paging must not stop because of that, so `alert-dispatch
worker` runs the worker as a child and starts it again. A SIGTERM, SIGINT or
SIGHUP to us ends both: SIGHUP is passed on as SIGTERM, because to Celery it
means "restart", and a closed terminal or a `kill -HUP` means "stop" here.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 30.0


def run_supervised(command: list[str], name: str) -> int:
    """Run `command` until told to stop; its last exit status."""
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM if signum == signal.SIGHUP else signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _stop)
    backoff = 1.0
    while True:
        started = time.monotonic()
        child = subprocess.Popen(command)
        status = child.wait()
        if stopping:
            return status
        if time.monotonic() - started > 60:
            backoff = 1.0  # it ran well for a while: this is a new failure, not a loop
        log.error("%s exited with status %s; starting it again in %.0fs", name, status, backoff)
        time.sleep(backoff)
        backoff = min(MAX_BACKOFF_S, backoff * 2)
        if stopping:
            return status


def celery_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "celery", "-A", "worker.celery_app", *args]
