"""Route an accepted alert: plan its notifications, then hand them to senders."""

from __future__ import annotations

import logging

from sqlalchemy import select

from shared.alert_store import mark_dispatched
from shared.db import session_scope
from shared.models import Alert, Notification
from shared.notification_store import plan_notification
from shared.sms_text import alert_sms_text
from worker import context, enqueue
from worker.celery_app import app

log = logging.getLogger(__name__)


@app.task(name="ingest.dispatch_alert")
def dispatch_alert(alert_id: int) -> int:
    """Plan one SMS per recipient; returns how many sends were enqueued.

    Running twice is harmless: planning is keyed uniquely, and a send task
    only acts on a notification that is still pending.
    """
    with session_scope(context.database_url()) as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            log.warning("dispatch for unknown alert %s ignored", alert_id)
            return 0
        if mark_dispatched(session, alert_id) and alert.status == "triggered":
            text = alert_sms_text(alert)
            for destination in alert.recipients:
                plan_notification(
                    session, alert_id=alert_id, channel="sms", destination=destination, text=text
                )
        pending = list(
            session.scalars(
                select(Notification.id).where(
                    Notification.alert_id == alert_id, Notification.state == "pending"
                )
            )
        )
    for notification_id in pending:
        enqueue.send_sms(notification_id)
    return len(pending)
