"""The heartbeat (beat, about every second): hand over whatever is due or was lost.

Due escalation steps, scheduled notifications (re-calls), and anything the
broker lost (an alert never routed, a notification enqueued long ago and still
pending) all live in the database; the tick finds them and enqueues them.
Every task it feeds is idempotent, so enqueueing twice is harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.models import Alert, Notification, utcnow
from shared.escalation.engine import due_alerts
from shared.notifications.priority import page_priority
from shared.notifications.state import NotificationState
from shared.notifications.store import move
from worker import context, enqueue, task_names
from worker.celery_app import app

log = logging.getLogger(__name__)

# An alert is normally routed within milliseconds of being stored.
UNROUTED_AFTER = timedelta(seconds=10)


@app.task(name=task_names.TICK)
def tick() -> dict[str, int]:
    now = utcnow()
    lost_after = timedelta(seconds=context.settings().requeue_lost_after_s)
    with session_scope(context.database_url()) as session:
        steps = due_alerts(session, now)
        undispatched = list(
            session.scalars(
                select(Alert.id).where(
                    Alert.dispatched_at.is_(None),
                    Alert.status == "triggered",
                    Alert.created_at < now - UNROUTED_AFTER,
                )
            )
        )
        due = session.execute(
            select(
                Notification.id,
                Notification.channel,
                Alert.severity,
                Notification.round,
                Notification.attempt,
            )
            .join(Alert, Alert.id == Notification.alert_id)
            .where(
                Notification.state == "pending",
                Notification.due_at <= now,
                or_(
                    Notification.enqueued_at.is_(None),
                    Notification.enqueued_at < now - lost_after,
                ),
            )
        ).all()
        if due:
            session.execute(
                update(Notification)
                .where(Notification.id.in_([row[0] for row in due]))
                .values(enqueued_at=now)
            )
        unsettled = settle_stuck_sends(session, now)
    for alert_id, step, round in steps:
        enqueue.fire_step(alert_id, step, round)
    for alert_id in undispatched:
        enqueue.dispatch_alert(alert_id)
    for notification_id, channel, severity, round, attempt in due:
        priority = page_priority(severity, round=round, attempt=attempt)
        enqueue.send_notification(notification_id, channel, priority)
    for notification_id in unsettled:
        enqueue.reconcile(notification_id)
    if undispatched:
        log.warning("tick re-enqueued %d alerts never routed", len(undispatched))
    return {
        "steps": len(steps),
        "alerts": len(undispatched),
        "notifications": len(due),
        "reconcile": len(unsettled),
    }


# A send holds "sending" for one request (bounded by the client's timeouts) and
# at most a second of spacing; far longer means the worker died mid-request.
STUCK_SENDING_AFTER = timedelta(seconds=60)
RECONCILE_AGAIN_AFTER = timedelta(seconds=60)


def settle_stuck_sends(session: Session, now: datetime) -> list[int]:
    """Sends whose worker died mid-request become unknown; unknown ones get a
    reconcile at most once a minute until settled. The ids to reconcile."""
    stuck = session.scalars(
        select(Notification.id).where(
            Notification.state == "sending",
            Notification.state_changed_at < now - STUCK_SENDING_AFTER,
        )
    ).all()
    for notification_id in stuck:
        move(
            session,
            notification_id,
            NotificationState.UNKNOWN,
            reason="worker lost during the request",
            enqueued_at=now,
        )
    unknown = session.scalars(
        select(Notification.id).where(
            Notification.state == "unknown",
            Notification.state_changed_at < now - RECONCILE_AGAIN_AFTER,
            or_(
                Notification.enqueued_at.is_(None),
                Notification.enqueued_at < now - RECONCILE_AGAIN_AFTER,
            ),
        )
    ).all()
    if unknown:
        session.execute(
            update(Notification).where(Notification.id.in_(unknown)).values(enqueued_at=now)
        )
    return [*stuck, *unknown]
