"""Hand over again what the broker lost: the database is the source of truth."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select

from shared.db import session_scope
from shared.models import Alert, Notification, utcnow
from worker import context, enqueue
from worker.celery_app import app

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=90)


@app.task(name="maintenance.sweep")
def sweep() -> dict[str, int]:
    """Re-enqueue alerts never routed and notifications left pending.

    Re-enqueueing is always safe because every task it feeds is idempotent;
    the threshold is longer than the longest retry backoff so a notification
    waiting for its retry is not hurried.
    """
    cutoff = utcnow() - STALE_AFTER
    with session_scope(context.database_url()) as session:
        alerts = list(
            session.scalars(
                select(Alert.id).where(
                    Alert.dispatched_at.is_(None),
                    Alert.status == "triggered",
                    Alert.created_at < cutoff,
                )
            )
        )
        notifications = list(
            session.scalars(
                select(Notification.id).where(
                    Notification.state == "pending", Notification.state_changed_at < cutoff
                )
            )
        )
    for alert_id in alerts:
        enqueue.dispatch_alert(alert_id)
    for notification_id in notifications:
        enqueue.send_sms(notification_id)
    if alerts or notifications:
        log.warning(
            "sweeper re-enqueued %d alerts and %d notifications", len(alerts), len(notifications)
        )
    return {"alerts": len(alerts), "notifications": len(notifications)}
