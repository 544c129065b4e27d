"""An alert as people read it: its state, its notifications, its timeline."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.models import Alert, Event, Notification
from shared.core.phone import mask


def alert_view(session: Session, alert_id: int) -> dict[str, Any] | None:
    alert = session.get(Alert, alert_id)
    if alert is None:
        return None
    notifications = session.scalars(
        select(Notification).where(Notification.alert_id == alert_id).order_by(Notification.id)
    )
    events = session.scalars(select(Event).where(Event.alert_id == alert_id).order_by(Event.id))
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
        "notifications": [
            {
                "id": n.id,
                "channel": n.channel,
                "to": mask(n.destination),
                "state": n.state,
                "step": n.step,
                "provider_uuid": n.provider_uuid,
                "send_attempts": n.send_attempts,
                "error_code": n.error_code,
            }
            for n in notifications
        ],
        "timeline": [
            {
                "id": e.id,
                "at": e.at.isoformat(),
                "kind": e.kind,
                "notification_id": e.notification_id,
                "detail": {k: v for k, v in e.detail.items() if k not in ("To", "From")},
            }
            for e in events
        ],
    }
