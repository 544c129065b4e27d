"""Answer an inbound SMS (confirmation or help): paced like every other SMS, sent once, logged.

An answer leaves the way a page does (`worker.sending.sms`): from the person's
sender in the pool (or the Powerpack), under that sender's rate-limit keys,
through the backup account while the primary's circuit is open. It books the
account and sender pace but not the person's paging caps: an answer must not
use up the budget their pages need.

The task gets the id of the "sms.reply_queued" event the receiver wrote, and
reads the number and text from it: no phone number rides in a task argument.
Before calling Plivo it claims the answer with a dedup key, so a task the
broker delivers twice (or one enqueued twice) sends one SMS.
"""

from __future__ import annotations

import logging

from shared.core.db import session_scope
from shared.core.events import record_event
from shared.core.metrics import SMS_SENT
from shared.core.models import Event
from shared.core.phone import mask
from shared.plivo.errors import PlivoError
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending.gate import pass_gate
from worker.sending.sms import send_answer, text_checks

log = logging.getLogger(__name__)

REPLY_QUEUED = "sms.reply_queued"


def _queued_reply(event_id: int) -> tuple[str, str] | None:
    """(destination, text) of a queued answer; None when there is no such answer."""
    with session_scope(context.database_url()) as session:
        event = session.get(Event, event_id)
        if event is None or event.kind != REPLY_QUEUED:
            return None
        detail = event.detail or {}
        destination, text = detail.get("destination"), detail.get("text")
        if not isinstance(destination, str) or not isinstance(text, str):
            return None
        return destination, text


def _claim(event_id: int) -> bool:
    """True for the one run that may send this answer; a crash after it loses the
    answer rather than risk sending it twice (a confirmation is not a page)."""
    with session_scope(context.database_url()) as session:
        return record_event(
            session,
            "sms.reply_sending",
            detail={"reply": event_id},
            dedup_key=f"sms-reply-sending:{event_id}",
        )


@app.task(name=task_names.SEND_REPLY)
def send_reply(reply_event_id: int, slot_booked: bool = False) -> str:
    """Best effort: a lost confirmation is not a lost page, so no retries."""
    if not isinstance(reply_event_id, int):
        # A task from before answers were recorded (number and text as arguments).
        log.warning("answer task without a reply id dropped")
        return "unknown"
    reply = _queued_reply(reply_event_id)
    if reply is None:
        log.warning("answer %s not found: nothing sent", reply_event_id)
        return "unknown"
    destination, text = reply
    gate = pass_gate(text_checks(destination, count_for_person=False), slot_booked=slot_booked)
    if not gate.go:
        enqueue.send_reply(reply_event_id, countdown=gate.delay_s, slot_booked=gate.slot_booked)
        return "delayed"
    if not _claim(reply_event_id):
        SMS_SENT.labels(result="skipped").inc()
        log.info("answer %s already sent or being sent: not sent again", reply_event_id)
        return "duplicate"
    try:
        result = send_answer(destination, text)
    except PlivoError as exc:
        SMS_SENT.labels(result="reply_failed").inc()
        log.warning("reply to %s not sent: %s", mask(destination), exc)
        return "failed"
    with session_scope(context.database_url()) as session:
        record_event(
            session,
            "sms.reply_sent",
            detail={
                "reply": reply_event_id,
                "to": mask(destination),
                "text": text,
                "message_uuid": result.message_uuids[:1],
            },
        )
    SMS_SENT.labels(result="reply").inc()
    return "sent"
