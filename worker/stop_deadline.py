"""A worker stopping on an error it cannot recover from exits within a deadline.

Celery answers an "unrecoverable error" in its main process (seen here: the
Redis transport failing to reconnect after the broker went away, "AttributeError:
'NoneType' object has no attribute 'hostname'") with a warm shutdown. Now and
then that shutdown never returns: seen once in CI, and in none of a drill of 8
broker outages here. (Celery bounds the broker's sockets in its cold shutdown
for the same kind of hang: a teardown reading from a connection nobody
answers.) The process then neither consumes nor exits, so the supervisor
(cli.supervise) never starts a new one and paging stops until someone notices.

So on that path, and only that one, the broker's sockets get a timeout, as
Celery already does for its cold shutdown, and a deadline is armed: past it
the pool's children are killed and the process exits with the failure status
for the supervisor to restart it. A task killed that way goes back to its
queue (acks_late), and a send cut off mid-request is settled as any dead
claimer's is. A stop that was asked for (SIGTERM, SIGINT) is left to finish its
tasks at its own pace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Any

from celery.apps.worker import Worker
from celery.exceptions import WorkerShutdown, WorkerTerminate
from celery.utils.threads import bound_open_broker_sockets

log = logging.getLogger(__name__)

# Long enough for a child to finish a send (its requests time out well before),
# short enough that paging resumes soon after the broker is back.
STOP_DEADLINE_S = 30.0
BROKER_SOCKET_TIMEOUT_S = 5.0


def is_unrecoverable(exc: BaseException | None) -> bool:
    """Whether a worker stopping while handling `exc` stops because it failed,
    rather than because it was told to (a signal, a shutdown command)."""
    if exc is None:
        return False
    asked = (WorkerShutdown, WorkerTerminate, SystemExit, KeyboardInterrupt)
    return not isinstance(exc, asked)


class DeadlineWorker(Worker):
    """Celery's worker, with a deadline on the stop that follows an unrecoverable error."""

    stop_deadline_s: float = STOP_DEADLINE_S

    def stop(self, in_sighandler: bool = False, exitcode: int | None = None) -> None:
        # Called from inside WorkController.start's `except`: the error is the one
        # being handled now.
        if not in_sighandler and is_unrecoverable(sys.exc_info()[1]):
            self._arm_exit_deadline(1 if exitcode is None else exitcode)
            consumer = getattr(self, "consumer", None)
            connection = getattr(consumer, "connection", None)
            if connection is not None:
                bound_open_broker_sockets(connection, BROKER_SOCKET_TIMEOUT_S)
        super().stop(in_sighandler=in_sighandler, exitcode=exitcode)

    def _arm_exit_deadline(self, exitcode: int) -> None:
        def exit_when_due() -> None:
            log.critical(
                "worker still stopping %.0fs after an unrecoverable error: exiting now",
                self.stop_deadline_s,
            )
            for pid in _pool_children(self.pool):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            logging.shutdown()
            os._exit(exitcode)

        timer = threading.Timer(self.stop_deadline_s, exit_when_due)
        timer.daemon = True  # a stop that completes in time exits without waiting for it
        timer.start()


def _pool_children(pool: Any) -> list[int]:
    """The pids of a prefork pool's children; none for another pool or none started."""
    processes = getattr(getattr(pool, "_pool", None), "_pool", None) or []
    return [p.pid for p in processes if getattr(p, "pid", None)]
