"""A page that reached nobody: re-call, or move the chain on at once.

The decision is `shared.escalation.after_end`; this task reads what it needs
and carries the decision out.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.enums import AlertStatus, Channel
from shared.core.models import Alert, Notification, utcnow
from shared.core.phone import mask
from shared.escalation.after_end import AfterEnd, after_end, live_channels
from shared.escalation.engine import escalate_now, live_in_step
from shared.escalation.plan import Position
from shared.notifications.planning import plan_notification
from shared.routing.route import config_and_policy
from worker import context, enqueue, task_names
from worker.celery_app import app

log = logging.getLogger(__name__)


@app.task(name=task_names.NOTIFICATION_ENDED)
def notification_ended(notification_id: int) -> str:
    """Decide what a failed or unanswered notification means for the chain.

    The re-call is a notification due later, handed over when due; the
    escalation is keyed on the chain's stored position. Both moves are keyed,
    so running twice does nothing more.
    """
    now = utcnow()
    with session_scope(context.database_url()) as session:
        notification = session.get(Notification, notification_id)
        if notification is None:
            return "unknown"
        alert = session.get(Alert, notification.alert_id)
        if alert is None or alert.status != AlertStatus.TRIGGERED:
            return "alert-closed"
        found = config_and_policy(alert, context.settings().config_file)
        if found is None:
            return "no-policy"
        _config, policy = found
        decision = after_end(
            channel=notification.channel,
            step=notification.step,
            attempt=notification.attempt,
            policy=policy,
            live_others=live_in_step(session, notification, live_channels(notification.channel)),
            now=now,
        )
        if decision.action is AfterEnd.RECALL and decision.recall_at is not None:
            _plan_recall(session, notification, decision.recall_at)
            return "recall"
        if decision.action is AfterEnd.OTHERS_LIVE:
            return "others-live"
        due = escalate_now(
            session,
            alert.id,
            after=Position(notification.step, notification.round),
            policy=policy,
            now=now,
            reason=f"{notification.channel} to {notification.contact or 'recipient'} not reached",
        )
        alert_id = alert.id
    if due is None:
        return "nothing"
    # Without waiting for the hand-over of steps (within a second).
    enqueue.fire_step(alert_id, due.step, due.round)
    return "escalated"


def _plan_recall(session: Session, notification: Notification, due_at: datetime) -> None:
    """The re-call: the same person, step and round, the next attempt, due later."""
    recall = plan_notification(
        session,
        alert_id=notification.alert_id,
        channel=Channel.VOICE,
        destination=notification.destination,
        text="",
        step=notification.step,
        round=notification.round,
        attempt=notification.attempt + 1,
        contact=notification.contact,
        due_at=due_at,
    )
    if recall is not None:
        log.info(
            "alert %s: re-calling %s (attempt %d)",
            notification.alert_id,
            mask(notification.destination),
            notification.attempt + 1,
        )
