"""Place one voice call notification (or a bundle led by it) through Plivo, at most once."""

from __future__ import annotations

from worker import task_names
from worker.celery_app import app
from worker.sending.flow import run_send
from worker.sending.voice import VOICE


@app.task(name=task_names.PLACE_CALL)
def place_call(notification_id: int, slot_booked: bool = False) -> str:
    """What happens on the call arrives later through answer, keypress and hangup callbacks."""
    return run_send(notification_id, slot_booked, VOICE)
