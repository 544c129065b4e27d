"""Where Redis is, from one URL, for redis-py and for Celery's broker alike.

REDIS_URL names one of:

    redis://[[user]:password@]host:port/db       a server (rediss:// over TLS)
    unix:///path/to/redis.sock                    a server on this machine
    sentinel://[[user]:password@]host:port[,host:port...]/service[?db=N]

The last is a master watched by Redis Sentinel: the clients ask the sentinels
(any of those listed) which server is the master of `service`, and ask again
when it fails over, so the rate limiter, the locks and the broker follow a
promotion without a restart. The user and password are the Redis servers'; a
sentinel with a password of its own takes `sentinel_password=...` in the
query. `db` may also be given as the path's second part (`/service/2`).

redis-py's `from_url` knows no Sentinel and kombu spells Sentinel (and unix
sockets) its own way, so every client of the configured Redis is built here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import redis
from redis.sentinel import Sentinel

from shared.core.embedded_redis import broker_url_for

SENTINEL_SCHEME = "sentinel"
REDIS_SCHEMES = ("redis", "rediss", "unix", SENTINEL_SCHEME)
DEFAULT_SENTINEL_PORT = 26379
_SOCKET_OPTIONS = ("socket_timeout", "socket_connect_timeout", "socket_keepalive")


class RedisUrlError(ValueError):
    """A Redis URL that cannot be used; the message says what is wrong with it."""


@dataclass(frozen=True)
class SentinelUrl:
    """A `sentinel://` URL, parsed."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def scheme_of(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def is_sentinel_url(url: str) -> bool:
    return scheme_of(url) == SENTINEL_SCHEME


def _host_port(text: str) -> tuple[str, int]:
    """`host:port`, `host` or `[v6]:port` as (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = text.partition(":")
    if not host:
        raise RedisUrlError(f"a sentinel address has no host: {text!r}")
    try:
        port = int(port_text) if port_text else DEFAULT_SENTINEL_PORT
    except ValueError:
        raise RedisUrlError(f"a sentinel port is not a number: {text!r}") from None
    if not 0 < port < 65536:
        raise RedisUrlError(f"a sentinel port is out of range: {text!r}")
    return host, port


def _int_db(text: str) -> int:
    try:
        db = int(text)
    except ValueError:
        raise RedisUrlError(f"db must be a whole number, not {text!r}") from None
    if db < 0:
        raise RedisUrlError(f"db must not be negative ({db})")
    return db


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Parse `sentinel://...` (see the module docstring); RedisUrlError when malformed."""
    if not is_sentinel_url(url):
        raise RedisUrlError("a Sentinel URL starts with sentinel://")
    rest = url.split("://", 1)[1]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        hosts, userinfo = netloc, ""
    username, colon, password = userinfo.partition(":")
    if not colon:
        username, password = "", userinfo
    if not hosts:
        raise RedisUrlError("a Sentinel URL names at least one sentinel (host:port)")
    sentinels = tuple(_host_port(part.strip()) for part in hosts.split(",") if part.strip())
    parts = [unquote(p) for p in path.split("/") if p]
    if not parts:
        raise RedisUrlError("a Sentinel URL names the master's service: sentinel://host:port/name")
    params = {key: values[-1] for key, values in parse_qs(query).items()}
    db_text = params.get("db", parts[1] if len(parts) > 1 else "0")
    return SentinelUrl(
        sentinels=sentinels,
        service=parts[0],
        db=_int_db(db_text),
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=params.get("sentinel_password") or None,
    )


def check_redis_url(url: str) -> str:
    """`url` when it names a Redis this module can reach; RedisUrlError otherwise."""
    scheme = scheme_of(url)
    if scheme not in REDIS_SCHEMES:
        raise RedisUrlError(
            "must start with redis://, rediss://, unix:// or sentinel:// "
            "(sentinel://host:port[,host:port]/service?db=N)"
        )
    if scheme == SENTINEL_SCHEME:
        parse_sentinel_url(url)
    return url


def _sentinel(target: SentinelUrl, kwargs: dict[str, Any]) -> Sentinel:
    """The sentinels, asked with the client's own socket timeouts."""
    sentinel_kwargs: dict[str, Any] = {k: kwargs[k] for k in _SOCKET_OPTIONS if k in kwargs}
    if target.sentinel_password:
        sentinel_kwargs["password"] = target.sentinel_password
    return Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)


def redis_from_url(url: str, **kwargs: Any) -> redis.Redis:
    """A redis-py client for any REDIS_URL: `Redis.from_url`, or the master of a
    Sentinel service (found again after each failover)."""
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, **kwargs)
    target = parse_sentinel_url(url)
    options = dict(kwargs)
    if target.username:
        options.setdefault("username", target.username)
    if target.password:
        options.setdefault("password", target.password)
    return _sentinel(target, kwargs).master_for(
        target.service, redis_class=redis.Redis, db=target.db, **options
    )


def kombu_broker(url: str) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL for a REDIS_URL, and the transport options it needs.

    kombu spells a unix socket `redis+socket://` and takes a Sentinel service as
    one `sentinel://` URL per sentinel, joined by `;`, with `master_name` set in
    the transport options.
    """
    if scheme_of(url) == "unix":
        return broker_url_for(url), {}
    if not is_sentinel_url(url):
        return url, {}
    target = parse_sentinel_url(url)
    auth = ""
    if target.password:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password, safe='')}@"
    urls = [
        f"sentinel://{auth}{f'[{h}]' if ':' in h else h}:{port}/{target.db}"
        for h, port in target.sentinels
    ]
    options: dict[str, Any] = {"master_name": target.service}
    if target.sentinel_password:
        options["sentinel_kwargs"] = {"password": target.sentinel_password}
    return ";".join(urls), options
