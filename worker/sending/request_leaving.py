"""Telling whoever started a send, in the same thread, that its request is leaving now.

Why: a receiver that routes an alert itself (worker.route_on_arrival) answers
the producer and publishes the routing task's backup only once the first
page's request has left. Under gevent, the answer's and the publish's work
(about 2 ms of CPU) ran in the middle of the routing and delayed the page by
as much; waiting for this signal puts that work behind the request instead,
while Plivo takes its time to answer.

The callback is set for the current thread (a context variable: under gevent,
for the current greenlet) and called before every request a send makes in it;
elsewhere nothing is set and nothing is called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LEAVING: ContextVar[Callable[[], None] | None] = ContextVar("request_leaving", default=None)


@contextmanager
def on_request_leaving(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` before each request a send makes in this thread, within the block."""
    token = _LEAVING.set(callback)
    try:
        yield
    finally:
        _LEAVING.reset(token)


def request_leaving() -> None:
    """A send's request leaves now (called by the send path just before it)."""
    callback = _LEAVING.get()
    if callback is not None:
        callback()
