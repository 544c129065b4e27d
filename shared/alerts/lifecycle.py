"""Acknowledge and resolve: the moments paging must stop, at once and for good."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.alerts import after_close
from shared.alerts.store import OPEN_STATUSES
from shared.core.enums import AlertStatus, EscalationState
from shared.core.events import record_event
from shared.core.models import Alert, Notification, utcnow
from shared.notifications.paging_metrics import observe_acknowledged
from shared.notifications.state import NotificationState
from shared.replies.code_store import retire_codes_of
from shared.routing.route import frozen_ack_timeout


@dataclass(frozen=True)
class LifecycleResult:
    """Whether this call changed the alert, and the status it has now."""

    changed: bool
    status: str | None  # None: no such alert
    cancelled: int = 0  # notifications that will now never be sent


def _stop_paging(session: Session, alert_id: int, reason: str) -> int:
    """Cancel every notification not yet handed to Plivo and every future step.

    Runs in the same transaction as the status change: a send task claims its
    row only while the row is pending and the alert triggered, so after this
    commits no queued SMS, call or next step can leave for this alert.
    """
    cancelled = session.execute(
        update(Notification)
        .where(
            Notification.alert_id == alert_id,
            Notification.state == NotificationState.PENDING.value,
        )
        .values(state=NotificationState.CANCELLED.value, state_changed_at=utcnow())
    ).rowcount
    session.execute(
        update(Alert)
        .where(Alert.id == alert_id)
        .values(next_fire_at=None, escalation=EscalationState.STOPPED)
    )
    retire_codes_of(session, alert_id)
    if cancelled:
        record_event(
            session,
            "notifications.cancelled",
            alert_id=alert_id,
            detail={"count": cancelled, "reason": reason},
        )
    return cancelled


def _close(
    session: Session,
    alert_id: int,
    *,
    from_statuses: tuple[AlertStatus, ...],
    status: AlertStatus,
    by: str,
    via: str,
    **values: object,
) -> LifecycleResult:
    """Move the alert to `status` if it is in one of `from_statuses` (compare-and-set,
    so repeating it changes nothing), then stop all paging for it."""
    changed = (
        session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.status.in_(from_statuses))
            .values(status=status, **values)
        ).rowcount
        == 1
    )
    current = session.scalar(select(Alert.status).where(Alert.id == alert_id))
    if not changed:
        return LifecycleResult(False, current)
    cancelled = _stop_paging(session, alert_id, status)
    record_event(session, f"alert.{status}", alert_id=alert_id, detail={"by": by, "via": via})
    after_close.remember(session, alert_id)  # its live calls are hung up once this commits
    return LifecycleResult(True, current, cancelled)


def acknowledge(session: Session, alert_id: int, *, by: str, via: str) -> LifecycleResult:
    """Acknowledge a triggered alert; repeating it (two people pressing 1) changes nothing.

    Every way in (API, CLI, SMS reply, keypress, producer) comes here, so the
    time to acknowledge is observed here, once per alert: by the call that first
    acknowledged it. Under a policy with `ack_timeout` it also arms the timeout
    (shared.escalation.ack_timeout): each acknowledgement arms its own.
    """
    now = utcnow()
    acked_before = session.scalar(select(Alert.acknowledged_at).where(Alert.id == alert_id))
    result = _close(
        session,
        alert_id,
        from_statuses=(AlertStatus.TRIGGERED,),
        status=AlertStatus.ACKNOWLEDGED,
        by=by,
        via=via,
        acknowledged_at=now,
        acknowledged_by=by,
        acknowledged_via=via,
    )
    if result.changed:
        if acked_before is None:  # once per alert: a later one follows an ack timeout
            observe_acknowledged(session, alert_id, now)
        _arm_ack_timeout(session, alert_id, now)
    return result


def _arm_ack_timeout(session: Session, alert_id: int, acknowledged_at: datetime) -> None:
    """Under a policy with `ack_timeout`, the time the acknowledgement runs out, kept
    where the tick looks for what is due; a resolve clears it with the rest of paging."""
    snapshot = session.scalar(select(Alert.escalation_snapshot).where(Alert.id == alert_id))
    seconds = frozen_ack_timeout(snapshot)
    if seconds is None:
        return
    session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.status == AlertStatus.ACKNOWLEDGED)
        .values(next_fire_at=acknowledged_at + timedelta(seconds=seconds))
    )


def resolve(session: Session, alert_id: int, *, by: str, via: str) -> LifecycleResult:
    """Resolve an open alert (triggered or acknowledged); its dedup key is free again."""
    return _close(
        session,
        alert_id,
        from_statuses=OPEN_STATUSES,
        status=AlertStatus.RESOLVED,
        by=by,
        via=via,
        resolved_at=utcnow(),
    )
