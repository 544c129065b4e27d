"""Fire one due escalation step (from the tick, or hurried by a failed page)."""

from __future__ import annotations

from shared.core.enums import EscalationState
from shared.escalation.plan import Position
from worker import task_names
from worker.celery_app import app
from worker.escalation_runner import fire_and_hand_over


@app.task(name=task_names.FIRE_STEP)
def fire_step(alert_id: int, step: int, round: int) -> str:
    """Idempotent: only the first of any number of copies finds the step still due."""
    result = fire_and_hand_over(alert_id, Position(step, round))
    if result.exhausted:
        return EscalationState.EXHAUSTED.value
    return "fired" if result.fired else "not-due"
