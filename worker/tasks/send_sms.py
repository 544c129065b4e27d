"""Send one SMS notification (or a bundle led by it) through Plivo, at most once."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.core.metrics import SMS_SENT
from shared.core.models import Notification
from shared.notifications.bundling import bundle_sms_text
from shared.notifications.sms_text import alert_sms_text
from shared.plivo.client import PlivoClient
from shared.replies.code_store import code_for
from shared.sending.limits import Checks, sender_for
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.send_flow import ChannelOps, Delivery, alerts_of, run_send


def _sender(destination: str) -> str:
    return sender_for(destination, context.settings().sender_numbers)


def _checks(notification: Notification) -> Checks:
    settings = context.settings()
    sender = settings.plivo_powerpack_uuid or _sender(notification.destination)
    return context.send_limits().sms_checks(
        settings.plivo_auth_id,
        sender,
        notification.destination,
        count_for_person=notification.send_attempts == 0,
    )


def _spacing(notification: Notification) -> Checks:
    settings = context.settings()
    sender = settings.plivo_powerpack_uuid or _sender(notification.destination)
    return context.send_limits().sms_spacing_checks(settings.plivo_auth_id, sender)


def _prepare(session: Session, bundle: Sequence[Notification]) -> Callable[[PlivoClient], Delivery]:
    """The words, composed at send time: one alert with its reply code, or a bundle."""
    lead = bundle[0]
    alerts = alerts_of(session, bundle)
    code = code_for(session, [a.id for a in alerts], lead.destination)
    text = (
        alert_sms_text(alerts[0], reply_code=code)
        if len(alerts) == 1
        else bundle_sms_text(alerts, code)
    )
    settings = context.settings()
    sender = None if settings.plivo_powerpack_uuid else _sender(lead.destination)
    session.execute(
        update(Notification).where(Notification.id == lead.id).values(text=text, sender=sender)
    )
    destination, lead_id = lead.destination, lead.id

    def perform(client: PlivoClient) -> Delivery:
        result = client.send_sms(
            src=sender,
            powerpack_uuid=settings.plivo_powerpack_uuid,
            dst=destination,
            text=text,
            callback_url=context.sms_callback_url(lead_id),
        )
        uuid = result.message_uuids[0] if result.message_uuids else None
        return Delivery(uuid, {"message_uuid": uuid or ""})

    return perform


SMS = ChannelOps(
    name="sms",
    counter=SMS_SENT,
    account_limit=lambda: context.send_limits().account_sms,
    checks=_checks,
    spacing=_spacing,
    requeue=lambda nid, delay, booked: enqueue.send_sms(nid, countdown=delay, slot_booked=booked),
    prepare=_prepare,
)


@app.task(name=task_names.SEND_SMS)
def send_sms(notification_id: int, slot_booked: bool = False) -> str:
    """The claim is a compare-and-set committed before the request, so a second
    copy of this task (redelivery, duplicate enqueue) finds nothing to do."""
    return run_send(notification_id, slot_booked, SMS)
