"""Engines, sessions and migrations for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Insert, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.core.pool_ping import ping_when_idle
from shared.core.sqlite_lock import STATEMENT_BUSY_TIMEOUT_MS, begin_immediate

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent.parent / "migrations"
# Set on the engine a read-only session is bound to (see `read_scope`).
READ_ONLY_OPTION = "alert_dispatch_read_only"


def _tune_sqlite(engine: Engine) -> None:
    """WAL, a long busy timeout, and BEGIN IMMEDIATE (waited for by `begin_immediate`).

    Web and worker processes write the same file. With pysqlite's default
    deferred transactions, a read that later writes fails at once with
    "database is locked" instead of waiting; taking the write lock at BEGIN
    makes writers queue behind each other instead.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={STATEMENT_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # A read-only session needs no write lock: in WAL mode its reads see one
        # snapshot and never wait for a writer, so it must not queue behind them.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            begin_immediate(connection.connection.driver_connection)


def normalize_database_url(url: str) -> str:
    """Accept the usual `postgresql://` and `postgres://` and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pool_options() -> dict[str, int]:
    """One pooled SQLite connection per process under gevent (gunicorn's gevent worker).

    A writer waiting for SQLite's lock waits inside the C library, which under
    gevent stops every greenlet, the lock holder too: a request that talks to
    Redis inside its transaction would freeze the worker for the whole busy
    timeout. Waiting for the pool's one connection yields to the holder instead,
    and SQLite lets one transaction in at a time anyway (BEGIN IMMEDIATE).
    """
    import sys

    monkey = sys.modules.get("gevent.monkey")
    if monkey is not None and monkey.is_module_patched("socket"):
        return {"pool_size": 1, "max_overflow": 0}
    return {}


def one_writer_at_a_time(url: str) -> bool:
    """Whether the database lets one transaction write at a time (SQLite's one lock):
    work that writes is then better done where it queues least."""
    return make_url(normalize_database_url(url)).get_backend_name() == "sqlite"


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """One engine (one pool) per URL per process."""
    url = normalize_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30}, hide_parameters=True, **_sqlite_pool_options()
        )
        _tune_sqlite(engine)
        return engine
    # hide_parameters: a database error's text never carries a row's values
    # (phone numbers, alert text) into a log line.
    engine = create_engine(url, pool_size=5, max_overflow=5, hide_parameters=True)
    ping_when_idle(engine)
    return engine


@lru_cache(maxsize=8)
def _session_factory(url: str) -> sessionmaker[Session]:
    factory = sessionmaker(bind=get_engine(url), expire_on_commit=False)
    _hold_loaded_objects(factory)
    return factory


# session.info key: the objects a session holds on to until they leave it.
_HELD = "held_objects"


def _hold_loaded_objects(factory: sessionmaker[Session]) -> None:
    """Keep every object a write session loaded until the session ends.

    The session's identity map holds its objects weakly: a row read in one
    function (the alert routed, the notification just planned) was dropped as soon
    as nothing referred to it, and the next function to look for it read it
    again: three extra SELECTs on every first page. Sessions here live for one
    transaction, so holding them costs little (SQLAlchemy's "strong reference"
    recipe).

    Only objects loaded from a row are held, every column read: an object this
    session inserted knows only what it was given, and an UPDATE's session
    synchronisation leaves its other columns as they were (None), so it is left
    to be dropped and read again as before.
    """

    def hold(session: Session, instance: object) -> None:
        session.info.setdefault(_HELD, set()).add(instance)

    def let_go(session: Session, instance: object) -> None:
        session.info.get(_HELD, set()).discard(instance)

    event.listen(factory, "loaded_as_persistent", hold)
    for name in ("persistent_to_detached", "persistent_to_deleted", "persistent_to_transient"):
        event.listen(factory, name, let_go)


@contextmanager
def session_scope(url: str, *, flush_to_disk: bool = True) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error.

    `flush_to_disk=False` lets PostgreSQL answer the commit before its WAL
    reaches the disk (`synchronous_commit = off`), saving a disk flush. Only
    for work nobody outside has seen the result of yet: a database crash may
    lose it, but the WAL is written in order, so the next durable commit (a
    send's claim, made before its request) makes it durable too; and when the
    crash comes first, the work is simply done again (an alert never routed
    is handed over again by the tick). SQLite in WAL mode with
    synchronous=NORMAL never waits for the disk at commit anyway.
    """
    session = _session_factory(url)()
    session.info[_FLUSH_TO_DISK] = flush_to_disk
    try:
        yield session
        _relax_commit_unless_durable(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@lru_cache(maxsize=64)
def insert_unless_duplicate(dialect: str, target: Any, *returning: Any) -> Insert:
    """An INSERT that skips a row breaking a unique key (ON CONFLICT DO NOTHING),
    RETURNING `returning`, for a dialect named as `session.get_bind().dialect.name`
    gives it. Built once per dialect, target and RETURNING (shared.core.row_writes).

    A skipped row returns nothing from RETURNING, so the caller learns it was a
    duplicate from the one statement. Catching the IntegrityError instead needs a
    savepoint around the insert: two more round trips, and on the ORM a flush.
    """
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = dialect_insert(target).on_conflict_do_nothing()
    return statement.returning(*returning) if returning else statement


def flush_at_commit(session: Session) -> None:
    """Make a transaction begun with `flush_to_disk=False` durable after all: it took
    on work the outside will see (a claim that a request follows)."""
    session.info[_FLUSH_TO_DISK] = True


# session.info key: whether the session's commit waits for the disk.
_FLUSH_TO_DISK = "flush_to_disk"


def _relax_commit_unless_durable(session: Session) -> None:
    """Just before the commit, since PostgreSQL reads the setting only then: one
    statement for a relaxed transaction and none for a durable one, where setting it
    off at the start and back on for a claim cost two round trips on every first page."""
    if session.info.get(_FLUSH_TO_DISK, True) or not session.in_transaction():
        return
    if is_postgresql(session):
        session.execute(text("SET LOCAL synchronous_commit = off"))


def is_postgresql(session: Session) -> bool:
    """Whether the session's database is PostgreSQL (where a statement may take a
    shape SQLite does not know)."""
    return session.get_bind().dialect.name == "postgresql"


@lru_cache(maxsize=8)
def _read_session_factory(url: str) -> sessionmaker[Session]:
    engine = get_engine(url).execution_options(**{READ_ONLY_OPTION: True})
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def read_scope(url: str) -> Iterator[Session]:
    """A session for reads only: on SQLite it takes no write lock.

    Every `session_scope` on SQLite begins with BEGIN IMMEDIATE, so even a
    lookup queues behind every writer of the file (web workers and pool
    children alike). A read that decides nothing to write uses this instead.
    Nothing is committed: writes made through it are rolled back.
    """
    session = _read_session_factory(url)()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def alembic_config(url: str) -> Config:
    """Alembic is imported here, not with the module: every worker, receiver and
    beat imports this module, and only the migration step needs Alembic (about
    0.2-0.4 s of every process's start)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalize_database_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`; safe to run at every start."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def ping(url: str) -> None:
    """Raise if the database does not answer."""
    with get_engine(url).connect() as connection:
        connection.execute(text("SELECT 1"))
