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
    return dedup_key in record_unique_events(session, [row])


def record_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Append several events (`event_row`s, no dedup key) in one statement: a step that
    plans ten pages writes its eleven events in one round trip, in order."""
    if rows:
        session.execute(_INSERT_EVENT, list(rows))


def record_or_defer(
    session: Session, rows: Sequence[dict[str, Any]], events: list[dict[str, Any]] | None
) -> None:
    """Write `rows` now (`record_events`), or add them to `events`, the list of a caller
    that writes every event of its transaction in one INSERT."""
    if events is None:
        record_events(session, rows)
    else:
        events.extend(rows)


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
    row = event_row(kind, alert_id, notification_id, detail, dedup_key)
    return record_unique_events(session, [row]).get(dedup_key)


def record_unique_events(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Append events keyed by their `dedup_key` in one statement: the new ones' ids, by key.

    A key recorded before is skipped, as `record_unique_event` skips it; a key
    twice in `rows` is recorded once, for its first row. A batch of delivery
    reports is one round trip instead of one per report.
    """
    if not rows:
        return {}
    events = Event.__table__
    dialect = session.get_bind().dialect.name
    statement = insert_unless_duplicate(dialect, events, events.c.id, events.c.dedup_key)
    return {key: event_id for event_id, key in session.execute(statement, list(rows))}


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
