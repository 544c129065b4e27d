"""How a process learns of the other hosts: it announces itself in every store it
shares with them, and reads theirs there (the rule: shared.core.host_presence).

- Redis, when REDIS_URL names a server other hosts can reach (redis://,
  rediss://, sentinel://): the sorted set `deploy:processes`, one member per
  process, scored with the Redis time at which it lapses. A daemon thread
  renews it every RENEW_S; it lapses LEASE_S after the last renewal (a process
  that died with its host), and a clean exit removes it at once.
- PostgreSQL: the process keeps one idle connection whose application_name
  is `alert-dispatch <host> <pid> <local>`, so pg_stat_activity lists the live
  processes of every host (and shows an operator which host holds which
  connection); it ends with the process.

Hosts are told apart by host name (`hostname`), state kept on one machine by
an id file in the directory that holds it (ID_FILE), so containers of one
machine that share a data volume count as one place. A store that does not
answer at start is not a reason to refuse: the check is skipped with a warning
(the process needs that store anyway and will say so).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from shared.core.host_presence import (
    OWN_REDIS,
    SQLITE,
    Presence,
    application_name,
    conflict,
    from_application_name,
    from_member,
    local_token,
    refusal_reason,
    short_host,
    to_member,
)
from shared.core.redis_url import redis_from_url, scheme_of
from shared.core.settings import Settings

log = logging.getLogger(__name__)

REGISTRY_KEY = "deploy:processes"
LEASE_S = 20.0
RENEW_S = 5.0
TIMEOUT_S = 2.0
ID_FILE = ".alert-dispatch-id"
REDIS_STORE = "Redis (REDIS_URL)"
PG_STORE = "PostgreSQL database (DATABASE_URL)"


def directory_id(directory: Path) -> str:
    """The id of a directory holding local state, made once (a random token in ID_FILE).

    Written to a temporary file and linked into place, so two processes starting
    at once agree on one id; a directory that cannot be written falls back to
    its path on this host."""
    path = directory / ID_FILE
    with contextlib.suppress(OSError):
        return path.read_text().strip() or _fallback_id(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f"{ID_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        temporary.write_text(secrets.token_hex(8))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
        temporary.unlink()
        return path.read_text().strip()
    except OSError:
        return _fallback_id(directory)


def _fallback_id(directory: Path) -> str:
    return f"{socket.gethostname()}:{directory.resolve()}"


def local_kinds(settings: Settings) -> dict[str, str]:
    """Each kind of state this process keeps on this machine only, with its directory's id."""
    from sqlalchemy.engine import make_url

    kinds: dict[str, str] = {}
    database = make_url(settings.effective_database_url)
    if database.get_backend_name() == "sqlite":
        file = database.database or ""
        directory = Path(file).parent if file and file != ":memory:" else settings.data_dir
        kinds[SQLITE] = directory_id(directory)
    if not settings.redis_url:
        kinds[OWN_REDIS] = directory_id(settings.data_dir)
    elif scheme_of(settings.redis_url) == "unix":
        socket_path = Path(settings.redis_url.split("://", 1)[1].split("?", 1)[0])
        kinds[OWN_REDIS] = directory_id(socket_path.parent)
    return kinds


def this_process(settings: Settings) -> Presence:
    return Presence(
        short_host(socket.gethostname()), os.getpid(), local_token(local_kinds(settings))
    )


def _shared_redis_url(settings: Settings) -> str | None:
    url = settings.redis_url
    return url if url and scheme_of(url) != "unix" else None


def _shared_database_url(settings: Settings) -> str | None:
    url = settings.effective_database_url
    return url if scheme_of(url).startswith(("postgres", "postgresql")) else None


# -- Redis ------------------------------------------------------------------------


def _redis_now(client: redis.Redis) -> float:
    seconds, micros = client.time()
    return int(seconds) + int(micros) / 1_000_000


def redis_presences(client: redis.Redis) -> list[Presence]:
    """The live processes announced in Redis (lapsed ones are dropped on the way)."""
    now = _redis_now(client)
    client.zremrangebyscore(REGISTRY_KEY, "-inf", now)
    found = (from_member(m) for m in client.zrangebyscore(REGISTRY_KEY, now, "+inf"))
    return [p for p in found if p is not None]


def _renew(client: redis.Redis, member: str, stop: threading.Event) -> None:
    while True:
        try:
            client.zadd(REGISTRY_KEY, {member: _redis_now(client) + LEASE_S})
        except (redis.RedisError, OSError) as exc:  # back at the next renewal
            log.debug("host registry: not renewed in Redis: %s", exc)
        if stop.wait(RENEW_S):
            return


# -- PostgreSQL ------------------------------------------------------------------


def _pg_open(url: str, name: str) -> Any:
    """A DBAPI connection of its own (no pool: nothing else may ever use it)."""
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from shared.core.db import normalize_database_url

    engine = create_engine(
        normalize_database_url(url),
        poolclass=NullPool,
        connect_args={"application_name": name, "connect_timeout": int(TIMEOUT_S)},
    )
    return engine.raw_connection()


def pg_presences(connection: Any) -> list[Presence]:
    """The live processes connected to this database, by their application_name."""
    cursor = connection.cursor()
    try:
        cursor.execute(
            "SELECT application_name FROM pg_stat_activity WHERE datname = current_database()"
        )
        names = [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()
        connection.rollback()  # idle, not idle in a transaction
    found = (from_application_name(name) for name in names)
    return [p for p in found if p is not None]


# -- this process's announcement ---------------------------------------------------


@dataclass
class _Announcement:
    pid: int = 0
    redis: redis.Redis | None = None
    member: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    pg: Any = None


_current = _Announcement()


def _withdraw() -> None:
    """At a clean exit of the process that announced (not of a forked child)."""
    if _current.pid != os.getpid():
        return
    _current.stop.set()
    if _current.redis is not None:
        with contextlib.suppress(redis.RedisError, OSError):
            _current.redis.zrem(REGISTRY_KEY, _current.member)


def _forget_in_child() -> None:
    """A forked child must not end the parent's PostgreSQL session: closing its
    inherited copy would send the server a goodbye on the parent's socket. The
    child's copy of that descriptor is pointed at /dev/null instead."""
    if _current.pg is None:
        return
    with contextlib.suppress(Exception):  # whatever the driver raised: the parent is unaffected
        descriptor = _current.pg.driver_connection.fileno()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, descriptor)
        os.close(null)
    _current.pg = None
    _current.redis = None


os.register_at_fork(after_in_child=_forget_in_child)
atexit.register(_withdraw)


def _announce(me: Presence, client: redis.Redis | None, pg: Any) -> None:
    _current.pid, _current.redis, _current.pg = me.pid, client, pg
    if client is not None:
        _current.member = to_member(me)
        _current.stop = threading.Event()
        threading.Thread(
            target=_renew,
            args=(client, _current.member, _current.stop),
            name="host-registry",
            daemon=True,
        ).start()


def _redis_check(me: Presence, url: str) -> tuple[str | None, redis.Redis | None]:
    try:
        client = redis_from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S)
        other = conflict(me, redis_presences(client))
    except (redis.RedisError, OSError) as exc:
        log.warning("could not look for other hosts in Redis, not checked: %s", exc)
        return None, None
    return (refusal_reason(me, other, REDIS_STORE), None) if other else (None, client)


def _pg_check(me: Presence, url: str) -> tuple[str | None, Any]:
    try:
        connection = _pg_open(url, application_name(me))
        other = conflict(me, pg_presences(connection))
    except Exception as exc:  # whatever the driver raised: the process will say so itself
        log.warning("could not look for other hosts in PostgreSQL, not checked: %s", exc)
        return None, None
    if other:
        connection.close()
        return refusal_reason(me, other, PG_STORE), None
    return None, connection


def claim_host(settings: Settings) -> str | None:
    """Why this process may not run beside the live processes of other hosts, or None;
    when None, the process is announced for the others to find (once per process)."""
    if _current.pid == os.getpid():
        return None
    redis_url, database_url = _shared_redis_url(settings), _shared_database_url(settings)
    if redis_url is None and database_url is None:
        return None  # nothing shared with another host: nobody to find, nobody to tell
    me = this_process(settings)
    client = pg = None
    if redis_url is not None:
        reason, client = _redis_check(me, redis_url)
        if reason:
            return reason
    if database_url is not None:
        reason, pg = _pg_check(me, database_url)
        if reason:
            return reason
    _announce(me, client, pg)
    return None
