"""The heartbeat (beat, about every second): hand over whatever the broker lost.

An alert never routed (its dispatch lost with the broker) lives in the
database; the tick finds it and enqueues it again. Alerts held by a
maintenance window are released when it is over and routed then. What is due
to page is handed over apart, ahead of any backlog: sends and the drainer of
delivery reports (worker.tasks.hand_over_sends), and escalation steps with
timed-out acknowledgements (worker.tasks.hand_over_steps).
The sweep of alerts never routed must wait behind such a backlog: run during
one, it would publish every alert still queued again. Every task it feeds is
idempotent, so enqueueing twice is harmless. What counts as lost is
`worker.sending.handover`.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from shared.alerts.maintenance_store import release_held
from shared.core.db import session_scope
from shared.core.enums import AlertStatus
from shared.core.models import Alert, utcnow
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending.handover import cutoffs_for

log = logging.getLogger(__name__)


@app.task(name=task_names.TICK)
def tick() -> dict[str, int]:
    limits = cutoffs_for(context.settings(), utcnow())
    with session_scope(context.database_url()) as session:
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
    for alert_id in [*undispatched, *released]:
        enqueue.dispatch_alert(alert_id)
    if undispatched:
        log.warning("tick re-enqueued %d alerts never routed", len(undispatched))
    return {"alerts": len(undispatched), "released": len(released)}
