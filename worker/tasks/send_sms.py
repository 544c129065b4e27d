"""Send one SMS notification through Plivo, at most once."""

from __future__ import annotations

import logging

from shared.db import session_scope
from shared.metrics import OPTED_OUT_SKIPS, SMS_SENT
from shared.models import Notification
from shared.notification_state import NotificationState as S
from shared.notification_store import is_opted_out, move
from shared.phone import mask
from shared.plivo.errors import PlivoError
from worker import context, enqueue
from worker.celery_app import app
from worker.send_failures import record_send_failure
from worker.send_gate import is_due, pass_gate

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
        if is_opted_out(session, notification.destination):
            move(session, notification_id, S.CANCELLED, reason="number opted out with STOP")
            opted_out = True
        else:
            opted_out = False
        checks = context.send_limits().sms_checks(
            settings.plivo_auth_id, sender, notification.destination
        )
    if opted_out:
        OPTED_OUT_SKIPS.inc()
        log.error(
            "notification %s not sent: the on-call number opted out with STOP", notification_id
        )
        enqueue.notification_ended(notification_id)
        return "opted-out"
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
        return record_send_failure(
            database_url=url,
            notification_id=notification_id,
            destination=destination,
            attempts=attempts,
            exc=exc,
            counter=SMS_SENT,
            account_limit=context.send_limits().account_sms,
            requeue=lambda nid, delay: enqueue.send_sms(nid, countdown=delay),
        )

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
