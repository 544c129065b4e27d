"""Check a pooled PostgreSQL connection before use only when it sat idle a while.

SQLAlchemy's `pool_pre_ping` checks every checkout: a round trip to the server
before every transaction, two or more per page (a page is a receiver's
transaction and a worker's or two). A connection returned to the pool a moment
ago was working then; one idle for a while may have been closed by a server
restart, a failover or a proxy's idle timeout, and is checked first. A check
that fails discards the connection and the pool connects anew (SQLAlchemy's
documented pessimistic recipe: raising DisconnectionError at checkout), so an
idle connection's death costs the caller nothing. A connection that dies
within PING_AFTER_IDLE_S of its last use fails its statement once, which is
rolled back like any database error, and the whole pool is replaced.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, event, exc

PING_AFTER_IDLE_S = 2.0
# ConnectionRecord.info key: when the connection was last handed back to the pool.
_RETURNED_AT = "returned_at"


def ping_when_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Install the check on `engine`'s pool."""

    @event.listens_for(engine, "connect")
    def _connected(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()  # a new connection needs no check

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is not None and time.monotonic() - returned < idle_s:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.DisconnectionError(f"pooled connection lost while idle: {error}") from None
