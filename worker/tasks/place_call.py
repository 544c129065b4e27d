"""Place one voice call notification through Plivo, at most once."""

from __future__ import annotations

import logging

from shared.db import session_scope
from shared.metrics import CALLS_PLACED
from shared.models import Notification
from shared.notification_state import NotificationState as S
from shared.notification_store import move
from shared.phone import mask
from shared.plivo.errors import PlivoError
from worker import context, enqueue
from worker.celery_app import app
from worker.send_failures import record_send_failure
from worker.send_gate import is_due, pass_gate

log = logging.getLogger(__name__)


@app.task(name="notify.place_call")
def place_call(notification_id: int, slot_booked: bool = False) -> str:
    """Claim the call notification, ask Plivo to ring, record the request uuid.

    The same claim as an SMS: a compare-and-set committed before the request,
    so a redelivered task never rings anyone twice. What happens on the call
    arrives later through the answer, keypress and hangup callbacks.
    """
    url = context.database_url()
    settings = context.settings()
    with session_scope(url) as session:
        notification = session.get(Notification, notification_id)
        if notification is None or notification.state != S.PENDING.value:
            CALLS_PLACED.labels(result="skipped").inc()
            return "skipped"
        if not is_due(notification):
            return "not-due"
        checks = context.send_limits().call_checks(settings.plivo_auth_id, notification.destination)
    gate = pass_gate(checks, slot_booked=slot_booked)
    if not gate.go:
        enqueue.place_call(notification_id, countdown=gate.delay_s, slot_booked=gate.slot_booked)
        return "delayed"
    with session_scope(url) as session:
        if not move(
            session,
            notification_id,
            S.SENDING,
            reason="call attempt",
            only_while_alert_triggered=True,
            sender=settings.plivo_from,
        ):
            move(session, notification_id, S.CANCELLED, reason="alert no longer triggered")
            CALLS_PLACED.labels(result="skipped").inc()
            return "skipped"
        notification = session.get(Notification, notification_id)
        assert notification is not None
        destination, attempts = notification.destination, notification.send_attempts

    base = f"{settings.public_base_url}/plivo/voice"
    query = f"?n={notification_id}"
    try:
        result = context.plivo_client().place_call(
            src=settings.plivo_from,
            dst=destination,
            answer_url=f"{base}/answer{query}",
            hangup_url=f"{base}/hangup{query}",
            machine_detection_url=f"{base}/machine{query}",
            ring_timeout=settings.call_ring_timeout,
        )
    except PlivoError as exc:
        return record_send_failure(
            database_url=url,
            notification_id=notification_id,
            destination=destination,
            attempts=attempts,
            exc=exc,
            counter=CALLS_PLACED,
            account_limit=context.send_limits().account_calls,
            requeue=lambda nid, delay: enqueue.place_call(nid, countdown=delay),
        )
    with session_scope(url) as session:
        move(
            session,
            notification_id,
            S.QUEUED,
            reason="plivo accepted",
            detail={"request_uuid": result.request_uuid},
            provider_uuid=result.request_uuid,
        )
    CALLS_PLACED.labels(result="accepted").inc()
    log.info(
        "call for notification %s to %s placed: %s",
        notification_id,
        mask(destination),
        result.request_uuid,
    )
    return "accepted"
