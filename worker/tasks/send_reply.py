"""Answer an inbound SMS (confirmation or help): paced like every other SMS, and logged."""

from __future__ import annotations

import logging

from shared.db import session_scope
from shared.events import record_event
from shared.metrics import SMS_SENT
from shared.phone import mask
from shared.plivo.errors import PlivoError
from worker import context, enqueue
from worker.celery_app import app
from worker.send_gate import pass_gate

log = logging.getLogger(__name__)


@app.task(name="notify.send_reply")
def send_reply(destination: str, text: str, slot_booked: bool = False) -> str:
    """Best effort: a lost confirmation is not a lost page, so no retries."""
    settings = context.settings()
    limits = context.send_limits()
    checks = [
        (f"account:{settings.plivo_auth_id}", limits.account_sms),
        (f"sender:{settings.plivo_from}", limits.sender_sms),
    ]
    gate = pass_gate(checks, slot_booked=slot_booked)
    if not gate.go:
        enqueue.send_reply(destination, text, countdown=gate.delay_s, slot_booked=gate.slot_booked)
        return "delayed"
    try:
        result = context.plivo_client().send_sms(
            src=settings.plivo_from, dst=destination, text=text
        )
    except PlivoError as exc:
        SMS_SENT.labels(result="reply_failed").inc()
        log.warning("reply to %s not sent: %s", mask(destination), exc)
        return "failed"
    with session_scope(context.database_url()) as session:
        record_event(
            session,
            "sms.reply_sent",
            detail={
                "to": mask(destination),
                "text": text,
                "message_uuid": result.message_uuids[:1],
            },
        )
    SMS_SENT.labels(result="reply").inc()
    return "sent"
