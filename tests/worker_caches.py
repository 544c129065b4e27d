"""Forget what an in-process worker cached from the environment a test just changed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest


def clear_worker_caches() -> None:
    """Settings, Plivo clients, Redis clients and limiters are cached per process:
    a test that points the worker at its own simulator or Redis clears them."""
    from worker import context
    from worker.sending import providers

    for cached in (
        context.settings,
        context._plivo_client_for,
        context._redis_for,
        context._limiter_for,
        context.send_limits,
        providers._backup_for,
    ):
        cached.cache_clear()


@contextmanager
def worker_environment(
    monkeypatch: pytest.MonkeyPatch, values: Mapping[str, str]
) -> Iterator[None]:
    """The in-process worker pointed at `values` (environment variables) for a block:
    set and the caches cleared; after it, the environment restored and cleared again."""
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    clear_worker_caches()
    yield
    monkeypatch.undo()
    clear_worker_caches()
