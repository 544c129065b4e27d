"""Writing to the append-only event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.core.models import Event, utcnow

# A Core insert on the table: the event is never read back through the session,
# so the unit of work's flush (the largest cost of an event) is not needed.
_INSERT_EVENT = insert(Event.__table__)


def record_event(
    session: Session,
    kind: str,
    *,
    alert_id: int | None = None,
    notification_id: int | None = None,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> bool:
    """Append an event; False when one with the same `dedup_key` is already there.

    The insert runs in a savepoint so a duplicate does not spoil the caller's
    transaction: the caller learns "seen before" and decides what to skip.
    """
    row = {
        "at": utcnow(),
        "kind": kind,
        "alert_id": alert_id,
        "notification_id": notification_id,
        "detail": detail or {},
        "dedup_key": dedup_key,
    }
    if dedup_key is None:
        session.execute(_INSERT_EVENT, row)
        return True
    try:
        with session.begin_nested():
            session.execute(_INSERT_EVENT, row)
    except IntegrityError:
        return False
    return True
