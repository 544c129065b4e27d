"""Requests that store alerts at the same moment share one commit (group commit).

Under load a receiver process has several requests storing at once. Each in
its own transaction, they queue for SQLite's one write lock (and on
PostgreSQL each waits for its own disk flush), so every request pays for all
the commits ahead of it. Here the first request to arrive writes for all:
it takes everything waiting, applies each request's work in its own
savepoint (a request that fails leaves nothing and fails alone), commits once
and wakes them. A request arriving meanwhile waits for the next round, led
by the first of them. Alone, a request commits at once as before.

Each request still gets its answer only after its commit: a 2xx always means
stored. The work is applied in arrival order, as if one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from shared.core.db import session_scope

T = TypeVar("T")

# A round takes at most this many requests: one slow round must not hold the lock long.
MAX_ROUND = 64


@dataclass
class _Job(Generic[T]):
    work: Callable[[Session], T]
    wake: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    result: T | None = None
    error: BaseException | None = None


class GroupCommit:
    """One per process and database: `run(work)` applies `work` in a shared transaction."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._guard = threading.Lock()
        self._waiting: list[_Job[object]] = []
        self._writing = False

    def run(self, work: Callable[[Session], T]) -> T:
        """Apply `work(session)` and commit; its result, or the error it (or the commit) raised."""
        job: _Job[T] = _Job(work)
        with self._guard:
            self._waiting.append(job)  # type: ignore[arg-type]
            lead = not self._writing
            self._writing = True
        if not lead:
            job.wake.wait()  # written by a round, or made the lead of the next one
        if not job.finished:
            self._write_round()  # a lead is always first in the round it writes
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def busy(self) -> bool:
        """Whether a request of this process is storing alerts now (or waits to)."""
        return self._writing or bool(self._waiting)

    def _write_round(self) -> None:
        with self._guard:
            batch, self._waiting = self._waiting[:MAX_ROUND], self._waiting[MAX_ROUND:]
        _apply(self._url, batch)
        for job in batch:
            job.finished = True
        with self._guard:
            if self._waiting:
                self._waiting[0].wake.set()  # the first one waiting leads the next round
            else:
                self._writing = False
        for job in batch:
            job.wake.set()


def _apply(url: str, batch: list[_Job[object]]) -> None:
    """Every job of the round in one transaction, each in its own savepoint when shared."""
    try:
        with session_scope(url) as session:
            for job in batch:
                if len(batch) == 1:
                    job.result = job.work(session)
                    continue
                try:
                    with session.begin_nested():
                        job.result = job.work(session)
                except Exception as exc:  # this request fails alone; the round goes on
                    job.error = exc
    except BaseException as exc:  # the commit (or a lone job) failed: nothing was stored
        for job in batch:
            job.result = None
            job.error = job.error or exc
