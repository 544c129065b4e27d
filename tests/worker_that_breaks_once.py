"""A Celery app whose first life ends as the broker outage ends ours, for
tests/integration/test_worker_stop_deadline.py.

In its first life the consumer fails with the error the Redis transport raised
when the broker went away (an unrecoverable error to Celery), and the worker's
teardown then never returns, as a teardown blocked on a dead broker socket
does. Later lives (the supervisor's restarts) run normally. The first life is
marked by a file in WORKER_TEST_DIR.
"""

from __future__ import annotations

import os
import time
from functools import cached_property
from pathlib import Path

from celery import bootsteps

from shared.core.embedded_redis import broker_url_for
from worker.celery_app import DispatchCelery
from worker.stop_deadline import DeadlineWorker

_MARK = Path(os.environ["WORKER_TEST_DIR"]) / "first-life-started"
FIRST_LIFE = not _MARK.exists()
_MARK.touch()


class TransportBreaks(bootsteps.StartStopStep):
    """The consumer's connection breaks in a way Celery cannot recover from."""

    requires = ("celery.worker.consumer.connection:Connection",)

    def start(self, parent: object) -> None:
        if FIRST_LIFE:
            raise AttributeError("'NoneType' object has no attribute 'hostname'")


class TeardownHangs(bootsteps.StartStopStep):
    """The worker's warm shutdown waits forever."""

    requires = ("celery.worker.components:Pool",)

    def stop(self, parent: object) -> None:
        if FIRST_LIFE:
            time.sleep(3600)


class QuickDeadlineWorker(DeadlineWorker):
    stop_deadline_s = float(os.environ["WORKER_STOP_DEADLINE_S"])


class BreaksOnceCelery(DispatchCelery):
    @cached_property
    def Worker(self) -> type:  # noqa: N802 - Celery's name
        return self.subclass_with_self(QuickDeadlineWorker)


app = BreaksOnceCelery("breaks_once", broker=broker_url_for(os.environ["REDIS_URL"]))
app.conf.worker_hijack_root_logger = False
app.steps["consumer"].add(TransportBreaks)
app.steps["worker"].add(TeardownHangs)
