"""Which stops get the deadline of worker.stop_deadline (the hang itself:
tests/integration/test_worker_stop_deadline.py)."""

from __future__ import annotations

from celery.exceptions import WorkerShutdown, WorkerTerminate

from worker.celery_app import app as dispatch_app
from worker.stop_deadline import DeadlineWorker, is_unrecoverable


def test_only_a_failure_arms_the_deadline_not_a_stop_that_was_asked_for():
    assert is_unrecoverable(AttributeError("'NoneType' object has no attribute 'hostname'"))
    assert is_unrecoverable(OSError("socket closed"))
    for asked in (WorkerShutdown(0), WorkerTerminate(1), SystemExit(0), KeyboardInterrupt()):
        assert not is_unrecoverable(asked)
    assert not is_unrecoverable(None)


def test_the_deployed_worker_is_the_one_with_the_deadline():
    assert issubclass(dispatch_app.Worker, DeadlineWorker)
