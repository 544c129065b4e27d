"""Fire one due escalation step (handed over by worker.tasks.hand_over_steps, or
hurried by a failed page)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from shared.core.db import session_scope
from shared.core.enums import EscalationState
from shared.core.metrics import STEP_LATENESS
from shared.core.models import Alert, utcnow
from shared.escalation.plan import Position
from shared.notifications.paging_metrics import elapsed_s
from worker import context, task_names
from worker.celery_app import app
from worker.escalation_runner import fire_and_hand_over


@app.task(name=task_names.FIRE_STEP)
def fire_step(alert_id: int, step: int, round: int) -> str:
    """Idempotent: only the first of any number of copies finds the step still due."""
    position = Position(step, round)
    due = due_at(alert_id, position)
    firing_at = utcnow()
    result = fire_and_hand_over(alert_id, position)
    if result.exhausted:
        return EscalationState.EXHAUSTED.value
    if result.fired and result.step is not None and due is not None:
        # Only the copy that fired observes: the hand-over's interval, the queue's
        # wait and the worker's start all show up here as lateness.
        STEP_LATENESS.observe(elapsed_s(due, firing_at))
    return "fired" if result.fired else "not-due"


def due_at(alert_id: int, position: Position) -> datetime | None:
    """When `position` fell due, while it is still the alert's next position."""
    with session_scope(context.database_url()) as session:
        row = session.execute(
            select(Alert.esc_step, Alert.esc_round, Alert.next_fire_at).where(Alert.id == alert_id)
        ).first()
    if row is None or (row.esc_step, row.esc_round) != (position.step, position.round):
        return None
    return row.next_fire_at
