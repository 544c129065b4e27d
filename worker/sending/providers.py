"""Which Plivo account a send uses: the primary, or the backup while its circuit is open."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import lru_cache

from shared.core.metrics import BREAKER_TRANSITIONS, PROVIDER_REQUESTS
from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoError, PlivoRateLimited
from shared.sending.breaker import CircuitBreaker
from worker import context

log = logging.getLogger(__name__)

PRIMARY = "primary"
BACKUP = "backup"


@dataclass(frozen=True)
class Provider:
    name: str
    client: PlivoClient


def breaker() -> CircuitBreaker:
    settings = context.settings()
    return CircuitBreaker(
        context.redis_client(),
        PRIMARY,
        threshold=settings.breaker_failures,
        open_s=settings.breaker_open_s,
    )


@lru_cache(maxsize=4)
def _backup_for(pid: int) -> PlivoClient | None:
    s = context.settings()
    if not s.has_backup_account:
        return None
    return PlivoClient(
        auth_id=s.plivo_backup_auth_id or "",
        auth_token=s.plivo_backup_auth_token or "",
        base_url=s.plivo_backup_base_url or s.plivo_base_url,
        connect_timeout=s.plivo_connect_timeout,
        read_timeout=s.plivo_read_timeout,
    )


def provider_named(name: str | None) -> Provider:
    backup = _backup_for(os.getpid())
    if name == BACKUP and backup is not None:
        return Provider(BACKUP, backup)
    return Provider(PRIMARY, context.plivo_client())


def choose_provider() -> Provider:
    """The primary unless its circuit is open and a backup exists.

    Without a backup there is nowhere better to go, so the primary is tried
    anyway and the send's own retries carry it through the outage.
    """
    if _backup_for(os.getpid()) is None or breaker().allow():
        return provider_named(PRIMARY)
    return provider_named(BACKUP)


def report(provider: Provider, error: PlivoError | None) -> None:
    """Feed the outcome of a request to the primary's breaker, and count it."""
    result = "ok" if error is None else type(error).__name__
    PROVIDER_REQUESTS.labels(provider=provider.name, result=result).inc()
    if provider.name != PRIMARY or _backup_for(os.getpid()) is None:
        return
    if error is None:
        if breaker().record_success():
            BREAKER_TRANSITIONS.labels(provider=PRIMARY, state="closed").inc()
            log.warning("Plivo primary account answers again: circuit closed, sends go back to it")
    elif error.retryable and not isinstance(error, PlivoRateLimited) and breaker().record_failure():
        BREAKER_TRANSITIONS.labels(provider=PRIMARY, state="open").inc()
        log.error("Plivo primary account failing (%s): circuit open, sends go to the backup", error)
