"""Which transactions wait for the disk at commit (`session_scope(flush_to_disk=...)`)."""

from __future__ import annotations

from sqlalchemy import select, text

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import Alert


def _synchronous_commit(session) -> str | None:
    if session.get_bind().dialect.name != "postgresql":
        return None
    return session.execute(text("SHOW synchronous_commit")).scalar_one()


def test_only_work_that_is_redone_if_lost_skips_the_disk_flush(database_url):
    with session_scope(database_url) as session:
        durable = _synchronous_commit(session)
    with session_scope(database_url, flush_to_disk=False) as session:
        relaxed = _synchronous_commit(session)
        accept_alert(session, AlertIn(summary="disk full"))
    with session_scope(database_url) as session:
        after = _synchronous_commit(session)
        stored = session.scalars(select(Alert.summary)).all()
    if database_url.startswith("postgresql"):
        # Only for that one transaction (SET LOCAL): the next is durable again.
        assert (durable, relaxed, after) == ("on", "off", "on")
    assert stored == ["disk full"]
