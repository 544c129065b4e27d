"""A fresh, empty database for each system of each benchmark, removed afterwards.

SQLite: a file in the system's own directory. PostgreSQL: `CREATE DATABASE
bench_<random>` on the server of `--pg-url`, dropped at the end (FORCE: a
killed worker may leave a connection behind), so no run sees another's rows
and nothing is left on the server.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from pathlib import Path

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
KINDS = (SQLITE, POSTGRESQL)
DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


def database_name(prefix: str = "bench") -> str:
    """`bench_<16 hex digits>`: a valid, unquoted PostgreSQL identifier nobody else uses."""
    return f"{prefix}_{secrets.token_hex(8)}"


def _admin_engine(pg_url: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine

    from shared.core.db import normalize_database_url

    return create_engine(normalize_database_url(pg_url), isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def fresh_database(kind: str, directory: Path, pg_url: str = DEFAULT_PG_URL) -> Iterator[str]:
    """The URL of a new empty database of `kind`; dropped (PostgreSQL) when the block ends."""
    if kind == SQLITE:
        directory.mkdir(parents=True, exist_ok=True)
        yield f"sqlite:///{directory / 'bench.db'}"
        return
    if kind != POSTGRESQL:
        raise ValueError(f"unknown database kind {kind!r}: one of {', '.join(KINDS)}")
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    name = database_name()
    admin = _admin_engine(pg_url)
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        try:
            yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    finally:
        admin.dispose()


def server_version(kind: str, pg_url: str = DEFAULT_PG_URL) -> str:
    """`SQLite 3.40.1` or `PostgreSQL 15.20`, for the results header."""
    if kind == SQLITE:
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    from sqlalchemy import text

    admin = _admin_engine(pg_url)
    try:
        with admin.connect() as connection:
            return f"PostgreSQL {connection.scalar(text('SHOW server_version'))}"
    finally:
        admin.dispose()


_readers: dict[str, object] = {}


def _reader(url: str):  # type: ignore[no-untyped-def]
    """The benchmark's own untuned engine for `url`: the project's engine takes SQLite's
    write lock at BEGIN, and a benchmark that polls must not hold up the writers it
    measures."""
    from sqlalchemy import Engine, create_engine

    from shared.core.db import normalize_database_url

    reader = _readers.get(url)
    if not isinstance(reader, Engine):
        reader = create_engine(normalize_database_url(url), pool_size=1, max_overflow=0)
        _readers[url] = reader
    return reader


def count(url: str, sql: str) -> int:
    """One count from a system's database (read-only SQL written by the benchmark)."""
    from sqlalchemy import text

    with _reader(url).connect() as connection:
        return int(connection.scalar(text(sql)) or 0)


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    """Every row of a read-only query on a system's database."""
    from sqlalchemy import text

    with _reader(url).connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def forget(url: str) -> None:
    """Close the benchmark's reader of `url` (before its database is dropped)."""
    reader = _readers.pop(url, None)
    dispose = getattr(reader, "dispose", None)
    if dispose is not None:
        dispose()
