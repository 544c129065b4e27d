"""SQLAlchemy event listeners that last for one block of a test, never beyond it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def listening(target: Any, name: str, listener: Callable[..., None]) -> Iterator[None]:
    """`listener` on `target`'s `name` event while the block runs (engines are cached
    per process: a listener left behind would see every later test's SQL)."""
    event.listen(target, name, listener)
    try:
        yield
    finally:
        event.remove(target, name, listener)


@contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The SQL every engine of this process sends while the block runs, in order.

    Every engine, not `get_engine(url)`: the engine and session-factory caches hold
    eight URLs each and evict in different orders, so after enough tests in one
    process `get_engine(url)` may build an engine beside the one a session uses."""
    sent: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    with listening(Engine, "before_cursor_execute", note):
        yield sent
