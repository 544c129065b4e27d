"""Which transactions wait for the disk at commit (`session_scope(flush_to_disk=...)`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.engine import Engine

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import flush_at_commit, session_scope
from shared.core.models import Alert
from tests.sql_events import listening


@contextmanager
def settings_at_commit() -> Iterator[list[str]]:
    """`synchronous_commit` as PostgreSQL reads it: at each commit."""
    seen: list[str] = []

    def on_commit(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.dialect.name == "postgresql":
            seen.append(connection.exec_driver_sql("SHOW synchronous_commit").scalar())

    with listening(Engine, "commit", on_commit):
        yield seen


def test_only_work_that_is_redone_if_lost_skips_the_disk_flush(database_url):
    with settings_at_commit() as seen:
        with session_scope(database_url) as session:
            accept_alert(session, AlertIn(summary="durable"))
        with session_scope(database_url, flush_to_disk=False) as session:
            accept_alert(session, AlertIn(summary="disk full"))
        with session_scope(database_url, flush_to_disk=False) as session:
            accept_alert(session, AlertIn(summary="claimed"))
            flush_at_commit(session)  # took on work the outside will see
        with session_scope(database_url) as session:
            accept_alert(session, AlertIn(summary="after"))
    with session_scope(database_url) as session:
        stored = session.scalars(select(Alert.summary).order_by(Alert.id)).all()
    if database_url.startswith("postgresql"):
        # Only for that one transaction (SET LOCAL): the next is durable again.
        assert seen == ["on", "off", "on", "on"]
    assert stored == ["durable", "disk full", "claimed", "after"]
