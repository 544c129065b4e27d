"""A page that reached nobody: re-call, or move the chain on at once."""

from __future__ import annotations

import logging

from shared.core.db import session_scope
from shared.core.models import Alert, Notification, utcnow
from shared.core.phone import mask
from shared.escalation.engine import escalate_now, live_in_step
from shared.escalation.plan import Position, after_unanswered_call, recall_due_at
from shared.notifications.store import plan_notification
from shared.routing.route import config_and_policy
from worker import context, enqueue, task_names
from worker.celery_app import app

log = logging.getLogger(__name__)


@app.task(name=task_names.NOTIFICATION_ENDED)
def notification_ended(notification_id: int) -> str:
    """Decide what a failed or unanswered notification means for the chain.

    A call not reached is re-called while the policy allows (the re-call is a
    notification due later, which the tick hands over); after that, or for a
    failed SMS, the next step becomes due now unless something else in this
    step may still reach someone. Both moves are keyed, so running twice does
    nothing more.
    """
    now = utcnow()
    with session_scope(context.database_url()) as session:
        notification = session.get(Notification, notification_id)
        if notification is None:
            return "unknown"
        alert = session.get(Alert, notification.alert_id)
        if alert is None or alert.status != "triggered":
            return "alert-closed"
        found = config_and_policy(alert, context.settings().config_file)
        if found is None:
            return "no-policy"
        _config, policy = found
        step = min(notification.step, len(policy.steps) - 1)
        if (
            notification.channel == "voice"
            and after_unanswered_call(policy, step, notification.attempt) == "recall"
        ):
            recall = plan_notification(
                session,
                alert_id=alert.id,
                channel="voice",
                destination=notification.destination,
                text="",
                step=notification.step,
                round=notification.round,
                attempt=notification.attempt + 1,
                contact=notification.contact,
                due_at=recall_due_at(policy, step, now),
            )
            if recall is not None:
                log.info(
                    "alert %s: re-calling %s (attempt %d)",
                    alert.id,
                    mask(notification.destination),
                    notification.attempt + 1,
                )
            return "recall"
        channels = ("voice",) if notification.channel == "voice" else ("sms", "voice")
        if live_in_step(session, notification, channels):
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
    enqueue.fire_step(alert_id, due.step, due.round)  # the tick would, within a second
    return "escalated"
