"""Send one SMS notification through Plivo, at most once."""

from __future__ import annotations

import logging

from shared.db import session_scope
from shared.metrics import SMS_SENT
from shared.models import Notification
from shared.notification_state import NotificationState as S
from shared.notification_store import move
from shared.phone import mask
from shared.plivo.errors import PlivoError, PlivoRateLimited
from shared.retry_policy import may_retry, retry_delay
from worker import context, enqueue
from worker.celery_app import app
from worker.send_gate import is_due, pass_gate, slow_down_account

log = logging.getLogger(__name__)


@app.task(name="notify.send_sms")
def send_sms(notification_id: int, slot_booked: bool = False) -> str:
    """Claim the notification (pending → sending), call Plivo, record what happened.

    The claim is a compare-and-set committed before the HTTP request, so a
    second copy of this task (redelivery, a duplicate enqueue) finds the row
    no longer pending and does nothing.
    """
    url = context.database_url()
    settings = context.settings()
    sender = settings.plivo_from
    with session_scope(url) as session:
        notification = session.get(Notification, notification_id)
        if notification is None or notification.state != S.PENDING.value:
            SMS_SENT.labels(result="skipped").inc()
            return "skipped"
        if not is_due(notification):
            return "not-due"  # a scheduled re-send; the tick hands it over when due
        checks = context.send_limits().sms_checks(
            settings.plivo_auth_id, sender, notification.destination
        )
    gate = pass_gate(checks, slot_booked=slot_booked)
    if not gate.go:
        enqueue.send_sms(notification_id, countdown=gate.delay_s, slot_booked=gate.slot_booked)
        return "delayed"
    with session_scope(url) as session:
        claimed = move(
            session,
            notification_id,
            S.SENDING,
            reason="send attempt",
            only_while_alert_triggered=True,
            sender=sender,
        )
        if not claimed:
            _cancel_if_alert_closed(session, notification_id)
            SMS_SENT.labels(result="skipped").inc()
            return "skipped"
        notification = session.get(Notification, notification_id)
        assert notification is not None
        destination, text, attempts = (
            notification.destination,
            notification.text,
            notification.send_attempts,
        )

    try:
        result = context.plivo_client().send_sms(
            src=sender,
            dst=destination,
            text=text,
            callback_url=context.sms_callback_url(notification_id),
        )
    except PlivoError as exc:
        return _record_failure(url, notification_id, destination, attempts, exc)

    uuid = result.message_uuids[0] if result.message_uuids else None
    with session_scope(url) as session:
        if uuid is None:
            move(
                session,
                notification_id,
                S.FAILED,
                reason="plivo rejected the destination",
                error_message="invalid_number",
            )
            SMS_SENT.labels(result="failed").inc()
            return "failed"
        if not move(
            session,
            notification_id,
            S.QUEUED,
            reason="plivo accepted",
            detail={"message_uuid": uuid},
            provider_uuid=uuid,
        ):
            # A delivery report overtook us and already recorded the uuid and state.
            log.info("notification %s already advanced by a report", notification_id)
    SMS_SENT.labels(result="accepted").inc()
    log.info(
        "sms for notification %s to %s queued at plivo as %s",
        notification_id,
        mask(destination),
        uuid,
    )
    return "accepted"


def _cancel_if_alert_closed(session, notification_id: int) -> None:  # type: ignore[no-untyped-def]
    """A pending row whose alert was acknowledged or resolved will never be sent."""
    move(session, notification_id, S.CANCELLED, reason="alert no longer triggered")


def _record_failure(
    url: str, notification_id: int, destination: str, attempts: int, exc: PlivoError
) -> str:
    error = {"error": type(exc).__name__, "status": exc.status, "message": str(exc)[:300]}
    if isinstance(exc, PlivoRateLimited):
        slow_down_account(context.send_limits().account_sms)
    with session_scope(url) as session:
        if exc.ambiguous:
            # Never resend blindly: the message may be queued at Plivo already.
            # Its status callback (which carries our id) or a reconcile settles it.
            move(
                session,
                notification_id,
                S.UNKNOWN,
                reason="outcome unknown",
                detail=error,
                error_message=str(exc)[:500],
            )
            result = "ambiguous"
        elif exc.retryable and may_retry(attempts):
            move(
                session,
                notification_id,
                S.PENDING,
                reason="retryable error",
                detail=error,
                error_message=str(exc)[:500],
            )
            result = "retry"
        else:
            move(
                session,
                notification_id,
                S.FAILED,
                reason="permanent error",
                detail=error,
                error_message=str(exc)[:500],
            )
            result = "failed"
    SMS_SENT.labels(result=result).inc()
    log.warning(
        "sms for notification %s to %s: %s (%s)", notification_id, mask(destination), result, exc
    )
    if result == "retry":
        enqueue.send_sms(notification_id, countdown=retry_delay(attempts))
    return result
