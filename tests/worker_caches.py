"""Forget what an in-process worker cached from the environment a test just changed."""

from __future__ import annotations


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
