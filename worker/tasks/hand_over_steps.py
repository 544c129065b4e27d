"""Hand over the escalation steps that fell due, and restart timed-out acknowledgements
(beat, every second), ahead of any routing backlog.

The next person is paged when nobody answered the last one; an alert whose
acknowledgement ran out is paged again from its first step. Both are kept in
the database as a time (`Alert.next_fire_at`) and handed over here as a
fire_step task, on the notify queue at the first priority, like the sends
(worker.tasks.hand_over_sends), and fire_step runs there too.

As a part of the tick, on the ingest queue behind every alert waiting to be
routed, a storm's routing backlog held escalations back as long as it lasted:
with a few thousand alerts queued, the second person was paged minutes late,
exactly when the first was busiest. What the tick still does (alerts never
routed, maintenance releases) may wait for the backlog; escalations may not.

Most seconds nothing is due: what is due is first looked for in a read, which
on SQLite takes no write lock, so this adds no write transaction a second.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from shared.core.db import read_scope, session_scope
from shared.core.models import Alert, utcnow
from shared.escalation.ack_timeout import due_ack_timeout_filter, restart_ack_timeouts
from shared.escalation.engine import claim_due_steps, due_step_filter
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending.handover import Cutoffs, cutoffs_for


@app.task(name=task_names.HAND_OVER_STEPS)
def hand_over_steps() -> dict[str, int]:
    """Enqueue a fire_step for every position due now (a restarted chain's first step
    among them); how many steps and how many acknowledgements timed out."""
    limits = cutoffs_for(context.settings(), utcnow())
    url = context.database_url()
    with read_scope(url) as session:
        if not _anything_due(session, limits):
            return {"steps": 0, "ack_timeouts": 0}
    with session_scope(url) as session:
        # First: a chain restarted by an ack timeout is due now, and claimed just below.
        timed_out = restart_ack_timeouts(session, limits.now)
        steps = claim_due_steps(session, limits.now, limits.lost_before)
    for alert_id, step, round in steps:
        enqueue.fire_step(alert_id, step, round)
    return {"steps": len(steps), "ack_timeouts": len(timed_out)}


def _anything_due(session: Session, limits: Cutoffs) -> bool:
    """Whether a step is due to hand over or an acknowledgement ran out."""
    due = select(Alert.id).where(
        or_(
            and_(*due_step_filter(limits.now, limits.lost_before)),
            and_(*due_ack_timeout_filter(limits.now)),
        )
    )
    return session.execute(due.limit(1)).first() is not None
