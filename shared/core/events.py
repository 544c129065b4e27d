"""Writing to the append-only event log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from shared.core.db import insert_unless_duplicate
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
    """Append an event; False when one with the same `dedup_key` is already there."""
    row = event_row(kind, alert_id, notification_id, detail, dedup_key)
    if dedup_key is None:
        session.execute(_INSERT_EVENT, row)
        return True
    return _insert_once(session, row) is not None


def record_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append several events (`event_row`s, no dedup key) in one statement: a step that
    plans ten pages writes its eleven events in one round trip, in order."""
    if rows:
        session.execute(_INSERT_EVENT, list(rows))


def record_unique_event(
    session: Session,
    kind: str,
    *,
    dedup_key: str,
    alert_id: int | None = None,
    notification_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> int | None:
    """Append an event keyed by `dedup_key`; its id, or None when the key was recorded before.

    A duplicate leaves the caller's transaction as it was (ON CONFLICT DO NOTHING),
    so the caller learns "seen before" and decides what to skip.
    """
    return _insert_once(session, event_row(kind, alert_id, notification_id, detail, dedup_key))


def _insert_once(session: Session, row: dict[str, Any]) -> int | None:
    events = Event.__table__
    statement = insert_unless_duplicate(session.get_bind().dialect.name, events, events.c.id)
    return session.execute(statement, row).scalar_one_or_none()


def event_row(
    kind: str,
    alert_id: int | None = None,
    notification_id: int | None = None,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> dict[str, Any]:
    """One event as `record_events` writes it, stamped now."""
    return {
        "at": utcnow(),
        "kind": kind,
        "alert_id": alert_id,
        "notification_id": notification_id,
        "detail": detail or {},
        "dedup_key": dedup_key,
    }
