"""Storing alerts: accept with deduplication, acknowledge, resolve."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.events import record_event
from shared.models import Alert, utcnow
from shared.schemas import AlertIn

OPEN_STATUSES = ("triggered", "acknowledged")


@dataclass(frozen=True)
class Accepted:
    """The outcome of accepting an alert event."""

    alert_id: int
    created: bool  # False: it joined an open alert with the same dedup key


def open_alert_by_key(session: Session, dedup_key: str) -> Alert | None:
    """The alert a dedup key names while it is open (triggered or acknowledged)."""
    return session.scalars(
        select(Alert).where(Alert.dedup_key == dedup_key, Alert.status.in_(OPEN_STATUSES))
    ).first()


def accept_alert(session: Session, alert_in: AlertIn) -> Accepted:
    """Store a trigger, or count it as an occurrence of the open alert with its key.

    Two producers racing on one key both end up on the same alert: the partial
    unique index rejects the second insert, which then becomes an occurrence.
    """
    if alert_in.dedup_key:
        existing = open_alert_by_key(session, alert_in.dedup_key)
        if existing is not None:
            return _add_occurrence(session, existing)
    alert = Alert(
        dedup_key=alert_in.dedup_key,
        summary=alert_in.summary,
        severity=alert_in.severity.value,
        source=alert_in.source,
        details=alert_in.details,
        labels=alert_in.labels,
        recipients=list(alert_in.recipients),
        status="triggered",
    )
    try:
        with session.begin_nested():
            session.add(alert)
            session.flush()
    except IntegrityError:
        existing = open_alert_by_key(session, alert_in.dedup_key or "")
        if existing is None:
            raise
        return _add_occurrence(session, existing)
    record_event(
        session,
        "alert.accepted",
        alert_id=alert.id,
        detail={"severity": alert.severity, "source": alert.source, "summary": alert.summary},
    )
    return Accepted(alert_id=alert.id, created=True)


def _add_occurrence(session: Session, alert: Alert) -> Accepted:
    now = utcnow()
    session.execute(
        update(Alert)
        .where(Alert.id == alert.id)
        .values(occurrences=Alert.occurrences + 1, last_occurrence_at=now)
    )
    record_event(session, "alert.occurrence", alert_id=alert.id, detail={"at": now.isoformat()})
    return Accepted(alert_id=alert.id, created=False)


def mark_dispatched(session: Session, alert_id: int) -> bool:
    """Claim the routing of an alert; False when another run already did it."""
    result = session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.dispatched_at.is_(None))
        .values(dispatched_at=utcnow())
    )
    return result.rowcount == 1
