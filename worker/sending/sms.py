"""What is particular to SMS: the sender a person is texted from, its rate limits,
the words, and the request. Pages (`SMS`, run by the flow) and answers to inbound
texts (`send_answer`) both leave through here, so a person always hears from the
same number (or the Powerpack), paced under the same rate-limit keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from shared.alerts.changes import change_notes
from shared.core.enums import Channel
from shared.core.metrics import SMS_SENT
from shared.core.models import Alert, Notification, utcnow
from shared.notifications.bundling import bundle_sms_text
from shared.notifications.message_record import record_text
from shared.notifications.resolved_text import room_for_open
from shared.notifications.resolved_while_held import (
    claim_resolved_while_held,
    name_resolved_while_held,
)
from shared.notifications.sms_text import alert_sms_text
from shared.plivo.client import PlivoClient, SendResult
from shared.plivo.errors import PlivoError
from shared.replies.code_store import code_for
from shared.sending.limits import Checks, sender_for
from worker import context, enqueue
from worker.sending.flow import ChannelOps, Delivery, alerts_of
from worker.sending.gate import wait_for_release
from worker.sending.providers import choose_provider, report


def _sender(destination: str) -> str:
    """The pool number this person is always texted from."""
    return sender_for(destination, context.settings().sender_numbers)


def source_for(destination: str) -> str | None:
    """The `src` of a text to this person; None when a Powerpack picks the number."""
    return None if context.settings().plivo_powerpack_uuid else _sender(destination)


def _paced_sender(destination: str) -> str:
    """Whose pace a text to this person counts against: the Powerpack, or its number."""
    return context.settings().plivo_powerpack_uuid or _sender(destination)


def text_checks(destination: str, *, count_for_person: bool) -> Checks:
    """The rate limits a text to this person books at the gate."""
    return context.send_limits().sms_checks(
        context.settings().plivo_auth_id,
        _paced_sender(destination),
        destination,
        count_for_person=count_for_person,
    )


def text_spacing(destination: str) -> Checks:
    """The paces checked again right before a text to this person leaves."""
    return context.send_limits().sms_spacing_checks(
        context.settings().plivo_auth_id, _paced_sender(destination)
    )


def send_text(
    client: PlivoClient, destination: str, text: str, callback_url: str | None = None
) -> SendResult:
    """The request: from the person's sender, or through the Powerpack."""
    return client.send_sms(
        src=source_for(destination),
        powerpack_uuid=context.settings().plivo_powerpack_uuid,
        dst=destination,
        text=text,
        callback_url=callback_url,
    )


def send_answer(destination: str, text: str) -> SendResult:
    """An answer to an inbound text, after its gate: the account a page would use
    (the backup while the primary's circuit is open), spaced like a page.
    Raises PlivoError; the outcome feeds the primary's breaker either way."""
    provider = choose_provider()
    wait_for_release(text_spacing(destination))
    try:
        result = send_text(provider.client, destination, text)
    except PlivoError as exc:
        report(provider, exc)
        raise
    report(provider, None)
    return result


def _checks(notification: Notification) -> Checks:
    # A retry of a page that never reached Plivo is not counted against the person again.
    return text_checks(notification.destination, count_for_person=notification.send_attempts == 0)


def _spacing(notification: Notification) -> Checks:
    return text_spacing(notification.destination)


def _recent_changes(session: Session, alert: Alert) -> Sequence[str]:
    """Changes to the alert's service just before it ("deployed api v2.3 4 min ago"):
    often the first thing the person paged needs to know."""
    window = timedelta(seconds=context.settings().change_window_s)
    return change_notes(session, alert, now=utcnow(), window=window)


def _prepare(session: Session, bundle: Sequence[Notification]) -> Callable[[PlivoClient], Delivery]:
    """The words, composed at send time: one alert with its reply code, or a bundle,
    then the alerts resolved while this person's page was held (a bundle keeps room)."""
    lead = bundle[0]
    alerts = alerts_of(session, bundle)
    code = code_for(session, [a.id for a in alerts], lead.destination)
    held = claim_resolved_while_held(session, lead.id, lead.destination, utcnow())
    text = (
        alert_sms_text(
            alerts[0], reply_code=code, changes=_recent_changes(session, alerts[0]), now=utcnow()
        )
        if len(alerts) == 1
        else bundle_sms_text(alerts, code, limit=room_for_open(held.alerts))
    )
    text = name_resolved_while_held(session, held, text)
    record_text(session, lead.id, text, source_for(lead.destination))
    destination, lead_id = lead.destination, lead.id

    def perform(client: PlivoClient) -> Delivery:
        result = send_text(client, destination, text, context.sms_callback_url(lead_id))
        uuid = result.message_uuids[0] if result.message_uuids else None
        return Delivery(uuid, {"message_uuid": uuid or ""})

    return perform


SMS = ChannelOps(
    name=Channel.SMS,
    counter=SMS_SENT,
    account_limit=lambda: context.send_limits().account_sms,
    checks=_checks,
    spacing=_spacing,
    requeue=lambda nid, delay, booked: enqueue.send_sms(nid, countdown=delay, slot_booked=booked),
    prepare=_prepare,
)
