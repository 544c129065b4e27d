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

from sqlalchemy import select

from shared.alerts.maintenance_store import release_held
from shared.core.db import session_scope
from shared.core.enums import AlertStatus
from shared.core.models import Alert, utcnow
from shared.escalation.ack_timeout import restart_ack_timeouts
from shared.escalation.engine import claim_due_steps
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending.handover import cutoffs_for
from worker.tasks.apply_delivery_reports import start_if_waiting

log = logging.getLogger(__name__)


@app.task(name=task_names.TICK)
def tick() -> dict[str, int]:
    limits = cutoffs_for(context.settings(), utcnow())
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
        released = release_held(session, context.settings().config_file, limits.now)
    for alert_id, step, round in steps:
        enqueue.fire_step(alert_id, step, round)
    for alert_id in [*undispatched, *released]:
        enqueue.dispatch_alert(alert_id)
    start_if_waiting()  # delivery reports left in the inbox by a lost start or a dead drainer
    if undispatched:
        log.warning("tick re-enqueued %d alerts never routed", len(undispatched))
    return {
        "steps": len(steps),
        "alerts": len(undispatched),
        "released": len(released),
        "ack_timeouts": len(timed_out),
    }
