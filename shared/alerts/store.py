"""Storing alerts: accept with deduplication, acknowledge, resolve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, literal_column, select, update
from sqlalchemy.orm import Session

from shared.alerts.schemas import AlertIn
from shared.core.db import insert_unless_duplicate
from shared.core.enums import AlertStatus
from shared.core.events import record_event
from shared.core.models import Alert, utcnow

OPEN_STATUSES = (AlertStatus.TRIGGERED, AlertStatus.ACKNOWLEDGED)
# The scope of the shared API tokens, and of every caller inside the system
# (bus bridge, Python producer): integrations with tokens of their own get theirs.
API_SCOPE = "api"
ACCEPTED_EVENT = "alert.accepted"


@dataclass(frozen=True)
class Accepted:
    """The outcome of accepting an alert event."""

    alert_id: int
    created: bool  # False: it joined an open alert with the same dedup key


def open_alert_by_key(
    session: Session, dedup_key: str, integration: str = API_SCOPE
) -> Alert | None:
    """The alert a dedup key names while it is open (triggered or acknowledged).

    Keys are looked up within one credential's scope (`integration`): a token
    acts only on the alerts its own integration created, so a leaked PagerDuty
    key cannot resolve an Alertmanager alert by guessing its key.
    """
    return session.scalars(
        select(Alert).where(
            Alert.integration == integration,
            Alert.dedup_key == dedup_key,
            Alert.status.in_(OPEN_STATUSES),
            # The unique index's own condition, word for word: without it SQLite
            # cannot use that index and scans every open alert for each key.
            Alert.status != literal_column("'resolved'"),
        )
    ).first()


def accept_alert(session: Session, alert_in: AlertIn, integration: str = API_SCOPE) -> Accepted:
    """Store a trigger, or count it as an occurrence of the open alert with its key.

    Two producers racing on one key both end up on the same alert: the partial
    unique index (on scope and key) rejects the second insert, which then
    becomes an occurrence. `integration` is the scope the alert is stored in.
    """
    now = utcnow()
    row = {**alert_row(alert_in, integration), "created_at": now, "last_occurrence_at": now}
    for _ in range(MAX_ACCEPT_TRIES):
        if alert_in.dedup_key:
            existing = open_alert_by_key(session, alert_in.dedup_key, integration)
            if existing is not None:
                return add_occurrence(session, existing.id)
        # A key taken meanwhile inserts nothing (ON CONFLICT DO NOTHING) and the loop
        # finds its alert: one statement, where a savepoint and a flush took three.
        stored = insert_unless_duplicate(session.get_bind().dialect.name, _ALERTS, _ALERTS.c.id)
        alert_id = session.execute(stored, row).scalar_one_or_none()
        if alert_id is not None:
            record_event(
                session, ACCEPTED_EVENT, alert_id=alert_id, detail=accepted_detail(alert_in)
            )
            return Accepted(alert_id=alert_id, created=True)
    raise RuntimeError("alert key kept changing hands while it was stored")


# Another producer's alert with the key can close between the insert refused and the
# read that looks for it: then the insert is tried again, a few times at most.
MAX_ACCEPT_TRIES = 3
_ALERTS = Alert.__table__


def alert_row(alert_in: AlertIn, integration: str) -> dict[str, Any]:
    """The columns a new alert is stored with, one by one or a body at a time."""
    return {
        "dedup_key": alert_in.dedup_key,
        "summary": alert_in.summary,
        "severity": alert_in.severity.value,
        "source": alert_in.source,
        "integration": integration,
        "details": alert_in.details,
        "labels": alert_in.labels,
        "recipients": list(alert_in.recipients),
        "status": AlertStatus.TRIGGERED.value,
    }


def accepted_detail(alert_in: AlertIn) -> dict[str, Any]:
    """What the `alert.accepted` event says of a new alert."""
    return {
        "severity": alert_in.severity.value,
        "source": alert_in.source,
        "summary": alert_in.summary,
    }


def add_occurrence(session: Session, alert_id: int) -> Accepted:
    """A trigger for an open alert with the same key: counted on it, nobody paged again."""
    now = utcnow()
    session.execute(
        update(Alert)
        .where(Alert.id == alert_id)
        .values(occurrences=Alert.occurrences + 1, last_occurrence_at=now)
    )
    record_event(session, "alert.occurrence", alert_id=alert_id, detail={"at": now.isoformat()})
    return Accepted(alert_id=alert_id, created=False)


def claim_routing(session: Session, alert_id: int) -> Alert | None:
    """Claim the routing of an alert and load it, in one statement (UPDATE ... RETURNING);
    None when it is unknown or another run already claimed it."""
    return session.scalars(_CLAIM_ROUTING, {"alert_id": alert_id, "now": utcnow()}).one_or_none()


def claim_routings(session: Session, alert_ids: Sequence[int]) -> dict[int, Alert]:
    """`claim_routing` for the alerts of one request (an Alertmanager group), in one
    statement: the claimed alerts by id; one unknown or claimed by another run is missing."""
    if len(alert_ids) == 1:
        alert = claim_routing(session, alert_ids[0])
        return {} if alert is None else {alert.id: alert}
    claimed = session.scalars(_CLAIM_ROUTINGS, {"alert_ids": list(alert_ids), "now": utcnow()})
    return {alert.id: alert for alert in claimed}


# Built once (shared.core.row_writes says why); RETURNING loads the row into the session
# (populate_existing), so the ORM's evaluation of the WHERE against loaded copies is skipped.
_CLAIM_ROUTING = (
    update(Alert)
    .where(Alert.id == bindparam("alert_id"), Alert.dispatched_at.is_(None))
    .values(dispatched_at=bindparam("now"))
    .returning(Alert)
    .execution_options(populate_existing=True, synchronize_session=False)
)
_CLAIM_ROUTINGS = (
    update(Alert)
    .where(Alert.id.in_(bindparam("alert_ids", expanding=True)), Alert.dispatched_at.is_(None))
    .values(dispatched_at=bindparam("now"))
    .returning(Alert)
    .execution_options(populate_existing=True, synchronize_session=False)
)
