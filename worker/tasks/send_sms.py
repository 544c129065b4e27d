"""Send one SMS notification (or a bundle led by it) through Plivo, at most once."""

from __future__ import annotations

from worker import task_names
from worker.celery_app import app
from worker.sending.flow import run_send
from worker.sending.sms import SMS


@app.task(name=task_names.SEND_SMS)
def send_sms(notification_id: int, slot_booked: bool = False) -> str:
    """The claim is a compare-and-set committed before the request, so a second
    copy of this task (redelivery, duplicate enqueue) finds nothing to do."""
    return run_send(notification_id, slot_booked, SMS)
