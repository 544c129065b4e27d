"""SQLAlchemy event listeners that last for one block of a test, never beyond it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event


@contextmanager
def listening(target: Any, name: str, listener: Callable[..., None]) -> Iterator[None]:
    """`listener` on `target`'s `name` event while the block runs (engines are cached
    per process: a listener left behind would see every later test's SQL)."""
    event.listen(target, name, listener)
    try:
        yield
    finally:
        event.remove(target, name, listener)
