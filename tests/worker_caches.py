"""Forget what an in-process worker cached from the environment a test just changed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pytest


def clear_worker_caches() -> None:
    """Settings, Plivo clients, Redis clients and limiters are cached per process:
    a test that points the worker at its own simulator or Redis clears them.

    A thread an earlier test started may be filling them as they are cleared: the
    sending liveness heartbeat (worker.sending.liveness) asks for the Redis client,
    and through it the settings, every few seconds. One that began loading the
    settings in the environment an earlier test left and stored them after the clear
    once routed a PostgreSQL test's alerts to an empty SQLite file. So the settings
    are loaded here, again until they are this environment's (a cached value is
    never replaced: a late store cannot undo them), and what is built on them is
    cleared after that.
    """
    from worker import context

    context.settings.cache_clear()
    _settle_settings()
    _clear_built_on_settings()


def _clear_built_on_settings() -> None:
    from worker import context
    from worker.sending import providers

    for cached in (
        context._plivo_client_for,
        context._redis_for,
        context._limiter_for,
        context.send_limits,
        providers._backup_for,
    ):
        cached.cache_clear()


def _settle_settings() -> None:
    """Cache the settings of this environment (nothing, when it has no valid ones)."""
    from shared.core.settings import SettingsError, load_settings
    from worker import context

    for _ in range(50):
        try:
            wanted = load_settings()
        except SettingsError:
            context.settings.cache_clear()
            return  # read, and refused, when first used: as before
        if context.settings() == wanted:
            return
        context.settings.cache_clear()
    raise RuntimeError("the worker's settings kept changing while a test cleared them")


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
