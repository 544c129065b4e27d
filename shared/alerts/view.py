"""An alert as people read it: its state, its notifications, its timeline, and the
recent changes (deploys) to its service that may explain it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.alerts.ack_timed_out import ack_timed_out
from shared.alerts.changes import DEFAULT_WINDOW, change_entry, changes_for_alert
from shared.alerts.listing import QuietHold, quiet_holds
from shared.alerts.maintenance import maintenance_view
from shared.core.enums import AlertStatus
from shared.core.models import Alert, Event, Notification, utcnow
from shared.core.phone import mask, mask_numbers_in
from shared.incident_bridge.view import bridge_view
from shared.notifications.sms_text import ack_timeout_prefix


def _timeline_entry(event: Event) -> dict[str, Any]:
    """One event-log entry; the raw numbers Plivo sends (To, From) stay out."""
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "kind": event.kind,
        "notification_id": event.notification_id,
        "detail": {k: v for k, v in event.detail.items() if k not in ("To", "From")},
    }


def _events(session: Session, alert_id: int) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.alert_id == alert_id).order_by(Event.id)))


def timeline(session: Session, alert_id: int) -> list[dict[str, Any]] | None:
    """The alert's event log in the order it happened; None when there is no such alert."""
    if session.get(Alert, alert_id) is None:
        return None
    return [_timeline_entry(event) for event in _events(session, alert_id)]


def ack_timeout_view(alert: Alert, now: datetime) -> dict[str, Any] | None:
    """An acknowledgement that will time out unless the alert is resolved ("armed", and
    when), or one that did, putting the alert back into escalation ("timed_out", with
    the words its pages begin with); None otherwise."""
    if alert.status == AlertStatus.ACKNOWLEDGED and alert.next_fire_at is not None:
        return {"state": "armed", "at": alert.next_fire_at.isoformat()}
    timed_out = ack_timed_out(alert, now)
    if timed_out is None:
        return None
    return {
        "state": "timed_out",
        "acknowledged_at": timed_out.acknowledged_at.isoformat(),
        "text": ack_timeout_prefix(timed_out).rstrip(": "),
    }


def alert_summary(alert: Alert, notification_count: int) -> dict[str, Any]:
    """An alert as one line of a list: enough to decide whether to open it.

    Recipients and whoever acknowledged it are shown masked: a list is read by
    scripts and status pages, where a full number would leak.
    """
    return {
        "id": alert.id,
        "status": alert.status,
        "severity": alert.severity,
        "summary": alert.summary,
        "source": alert.source,
        "labels": alert.labels or {},
        "recipients": [mask(number) for number in alert.recipients or []],
        "created_at": alert.created_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": (
            mask_numbers_in(alert.acknowledged_by) if alert.acknowledged_by else None
        ),
        "acknowledged_via": alert.acknowledged_via,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "escalation": {
            "state": alert.escalation,
            "policy": alert.policy,
            "step": alert.esc_step,
            "round": alert.esc_round,
            "next_at": alert.next_fire_at.isoformat() if alert.next_fire_at else None,
        },
        "notifications": notification_count,
        "maintenance": maintenance_view(
            alert.maintenance, alert.held_until, alert.status, utcnow()
        ),
        "ack_timeout": ack_timeout_view(alert, utcnow()),
    }


def _notification_entry(n: Notification, hold: QuietHold | None) -> dict[str, Any]:
    """One notification of the alert; `held` says when quiet hours hold it back, and until when."""
    return {
        "id": n.id,
        "channel": n.channel,
        "to": mask(n.destination),
        "state": n.state,
        "step": n.step,
        "provider_uuid": n.provider_uuid,
        "send_attempts": n.send_attempts,
        "error_code": n.error_code,
        "due_at": n.due_at.isoformat(),
        "call": _call_charge(n),
        "held": (
            {"reason": "quiet_hours", "until": hold.until.isoformat(), "text": hold.text}
            if hold is not None
            else None
        ),
    }


def _call_charge(n: Notification) -> dict[str, Any] | None:
    """What a call lasted and cost, from Plivo's hang-up (None until it hung up)."""
    if n.call_seconds is None and n.call_cost is None:
        return None
    cost = f"{n.call_cost:.5f}" if n.call_cost is not None else None
    return {"duration_s": n.call_seconds, "billed_s": n.billed_seconds, "cost": cost}


def alert_view(
    session: Session,
    alert_id: int,
    *,
    now: datetime | None = None,
    change_window: timedelta = DEFAULT_WINDOW,
) -> dict[str, Any] | None:
    """Everything about one alert; `recent_changes` are those of `shared.alerts.changes`
    (CHANGE_WINDOW_S is `change_window`), newest first, their ages as of `now`."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    at = utcnow() if now is None else now
    changes = changes_for_alert(session, alert, now=at, window=change_window)
    notifications = session.scalars(
        select(Notification).where(Notification.alert_id == alert_id).order_by(Notification.id)
    )
    held = {hold.notification_id: hold for hold in quiet_holds(session, [alert_id], at)}
    events = _events(session, alert_id)
    return {
        "id": alert.id,
        "summary": alert.summary,
        "severity": alert.severity,
        "source": alert.source,
        "dedup_key": alert.dedup_key,
        "status": alert.status,
        "occurrences": alert.occurrences,
        "created_at": alert.created_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_via": alert.acknowledged_via,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "maintenance": maintenance_view(alert.maintenance, alert.held_until, alert.status, at),
        "ack_timeout": ack_timeout_view(alert, at),
        "notifications": [_notification_entry(n, held.get(n.id)) for n in notifications],
        "timeline": [_timeline_entry(event) for event in events],
        "bridge": bridge_view(events),
        "recent_changes": [change_entry(change, at) for change in changes],
    }
