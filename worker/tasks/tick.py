"""The heartbeat (beat, about every second): hand over whatever is due or was lost.

Due escalation steps, acknowledgements that timed out (paged again from the
first step, shared.escalation.ack_timeout), and anything the broker lost (an
alert never routed, a step enqueued long ago and still due) all live in the
database; the tick finds them and enqueues them. What it hands over it marks,
so a task still waiting in the queue is not published again every second: only
once it counts as lost. Sends that are due (re-calls, booked slots, retries) are
handed over apart, ahead of any routing backlog (worker.tasks.hand_over_sends).
Alerts held by a maintenance window are released when it is over and routed then.
Every task it feeds is idempotent, so enqueueing twice is harmless. What counts
as lost or stuck is `worker.sending.handover`.
"""

from __future__ import annotations

import logging

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from shared.alerts.maintenance_store import release_held
from shared.core.db import session_scope
from shared.core.enums import AlertStatus
from shared.core.models import Alert, Notification, utcnow
from shared.escalation.ack_timeout import restart_ack_timeouts
from shared.escalation.engine import claim_due_steps
from shared.notifications.state import NotificationState
from shared.notifications.store import move
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending import liveness
from worker.sending.handover import Cutoffs, cutoffs
from worker.tasks.apply_delivery_reports import start_if_waiting

log = logging.getLogger(__name__)


@app.task(name=task_names.TICK)
def tick() -> dict[str, int]:
    settings = context.settings()
    limits = cutoffs(
        utcnow(),
        settings.requeue_lost_after_s,
        settings.plivo_connect_timeout + settings.plivo_read_timeout,
    )
    with session_scope(context.database_url()) as session:
        # First: a chain restarted by an ack timeout is due now, and claimed just below.
        timed_out = restart_ack_timeouts(session, limits.now)
        steps = claim_due_steps(session, limits.now, limits.lost_before)
        undispatched = list(
            session.scalars(
                select(Alert.id).where(
                    Alert.dispatched_at.is_(None),
                    Alert.status == AlertStatus.TRIGGERED,
                    Alert.created_at < limits.unrouted_before,
                )
            )
        )
        unsettled = settle_stuck_sends(session, limits)
        released = release_held(session, context.settings().config_file, limits.now)
    for alert_id, step, round in steps:
        enqueue.fire_step(alert_id, step, round)
    for alert_id in [*undispatched, *released]:
        enqueue.dispatch_alert(alert_id)
    for notification_id in unsettled:
        enqueue.reconcile(notification_id)
    start_if_waiting()  # delivery reports left in the inbox by a lost start or a dead drainer
    if undispatched:
        log.warning("tick re-enqueued %d alerts never routed", len(undispatched))
    return {
        "steps": len(steps),
        "alerts": len(undispatched),
        "reconcile": len(unsettled),
        "released": len(released),
        "ack_timeouts": len(timed_out),
    }


def settle_stuck_sends(session: Session, limits: Cutoffs) -> list[int]:
    """Sends whose worker died mid-request become unknown; unknown ones get a
    reconcile at most once a minute until settled. The ids to reconcile.

    A worker's death is seen as soon as its liveness key lapses
    (worker.sending.liveness); a send that names no claimer, or whose claimer
    cannot be asked about, waits out the longest request instead."""
    sending = session.execute(
        select(Notification.id, Notification.claimed_by, Notification.state_changed_at).where(
            Notification.state == NotificationState.SENDING
        )
    ).all()
    # Only a claim younger than the long window needs its claimer asked about.
    to_ask = {by for _, by, since in sending if by is not None and since >= limits.stuck_before}
    dead = (
        liveness.dead_claimers(context.redis_client(), to_ask, limits.now.timestamp())
        if to_ask
        else set()
    )
    stuck = [nid for nid, by, since in sending if since < limits.stuck_before or by in dead]
    for notification_id in stuck:
        move(
            session,
            notification_id,
            NotificationState.UNKNOWN,
            reason="worker lost during the request",
            enqueued_at=limits.now,
        )
    unknown = session.scalars(
        select(Notification.id).where(
            Notification.state == NotificationState.UNKNOWN,
            Notification.state_changed_at < limits.reconcile_before,
            or_(
                Notification.enqueued_at.is_(None),
                Notification.enqueued_at < limits.reconcile_before,
            ),
        )
    ).all()
    if unknown:
        session.execute(
            update(Notification).where(Notification.id.in_(unknown)).values(enqueued_at=limits.now)
        )
    return [*stuck, *unknown]
