"""A pooled PostgreSQL connection is checked before use only after sitting idle."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from shared.core.db import normalize_database_url
from shared.core.pool_ping import ping_when_idle


def _engine(database_url: str, idle_s: float):  # type: ignore[no-untyped-def]
    if not database_url.startswith("postgresql"):
        pytest.skip("the check is PostgreSQL's (a SQLite file has no server to lose)")
    engine = create_engine(normalize_database_url(database_url), pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_s=idle_s)
    return engine


def _server_closes_the_pooled_connection(engine) -> None:  # type: ignore[no-untyped-def]
    """Use the pool's one connection, return it, and have the server end it (as a
    restart or a proxy's idle timeout does)."""
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = create_engine(engine.url.render_as_string(hide_password=False), poolclass=NullPool)
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_an_idle_connection_lost_meanwhile_is_replaced_before_use(database_url: str) -> None:
    engine = _engine(database_url, idle_s=0.0)
    _server_closes_the_pooled_connection(engine)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()


def test_a_connection_used_a_moment_ago_is_not_checked(database_url: str) -> None:
    """No round trip before its statement: had it been checked, this would succeed."""
    engine = _engine(database_url, idle_s=3600.0)
    _server_closes_the_pooled_connection(engine)
    with pytest.raises(OperationalError), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    # The failure replaced the pool: the next caller gets a working connection.
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    engine.dispose()
