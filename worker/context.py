"""Per-process resources of a worker: settings, database URL, Plivo client.

Built lazily and keyed by process id, because prefork children must not
share the parent's sockets (a pooled HTTP connection used by two processes
interleaves their bytes).
"""

from __future__ import annotations

import os
from functools import lru_cache

import redis

from shared.core.settings import Settings, load_settings
from shared.plivo.callback_urls import callback_url
from shared.plivo.client import PlivoClient
from shared.sending.limits import SendLimits
from shared.sending.rate_limiter import RateLimiter
from shared.sending.release_log import ReleaseLog


@lru_cache(maxsize=1)
def settings() -> Settings:
    return load_settings()


def database_url() -> str:
    return settings().effective_database_url


@lru_cache(maxsize=4)
def _plivo_client_for(pid: int) -> PlivoClient:
    s = settings()
    return PlivoClient(
        auth_id=s.plivo_auth_id,
        auth_token=s.plivo_auth_token,
        base_url=s.plivo_base_url,
        connect_timeout=s.plivo_connect_timeout,
        read_timeout=s.plivo_read_timeout,
    )


def plivo_client() -> PlivoClient:
    return _plivo_client_for(os.getpid())


def sms_callback_url(notification_id: int) -> str:
    """Our notification id rides in the callback URL: a report that overtakes
    our own bookkeeping of Plivo's uuid still finds its notification."""
    return callback_url(settings().public_base_url, "/plivo/sms/status", notification_id)


@lru_cache(maxsize=4)
def _redis_for(pid: int) -> redis.Redis:
    from shared.core.embedded_redis import resolve_redis_url
    from shared.core.redis_url import redis_from_url

    s = settings()
    return redis_from_url(resolve_redis_url(s.redis_url, s.data_dir), socket_timeout=5)


def redis_client() -> redis.Redis:
    return _redis_for(os.getpid())


@lru_cache(maxsize=4)
def _limiter_for(pid: int) -> RateLimiter:
    return RateLimiter(_redis_for(pid))


def limiter() -> RateLimiter:
    return _limiter_for(os.getpid())


@lru_cache(maxsize=4)
def _release_log_for(pid: int) -> ReleaseLog:
    return ReleaseLog(_redis_for(pid))


def release_log() -> ReleaseLog:
    return _release_log_for(os.getpid())


@lru_cache(maxsize=1)
def send_limits() -> SendLimits:
    return SendLimits.from_settings(settings())
