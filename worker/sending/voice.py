"""What is particular to calls: their rate limits and the request. What is said is
decided when the call is answered (the answer URL), not here."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from shared.core.enums import Channel
from shared.core.metrics import CALLS_PLACED
from shared.core.models import Notification
from shared.plivo.callback_urls import callback_url
from shared.plivo.client import PlivoClient
from shared.sending.limits import Checks, sender_for
from worker import context, enqueue
from worker.sending.flow import ChannelOps, Delivery


def _checks(notification: Notification) -> Checks:
    settings = context.settings()
    return context.send_limits().call_checks(
        settings.plivo_auth_id,
        notification.destination,
        count_for_person=notification.send_attempts == 0,
    )


def _spacing(notification: Notification) -> Checks:
    return context.send_limits().call_spacing_checks(context.settings().plivo_auth_id)


def _prepare(session: Session, bundle: Sequence[Notification]) -> Callable[[PlivoClient], Delivery]:
    """The call's callbacks carry the lead's id; the bundle is read out when answered."""
    settings = context.settings()
    lead = bundle[0]
    base, lead_id = settings.public_base_url, lead.id
    source = sender_for(lead.destination, settings.sender_numbers)
    destination = lead.destination

    def perform(client: PlivoClient) -> Delivery:
        result = client.place_call(
            src=source,
            dst=destination,
            answer_url=callback_url(base, "/plivo/voice/answer", lead_id),
            hangup_url=callback_url(base, "/plivo/voice/hangup", lead_id),
            machine_detection_url=callback_url(base, "/plivo/voice/machine", lead_id),
            ring_timeout=settings.call_ring_timeout,
        )
        return Delivery(result.request_uuid, {"request_uuid": result.request_uuid})

    return perform


VOICE = ChannelOps(
    name=Channel.VOICE,
    counter=CALLS_PLACED,
    account_limit=lambda: context.send_limits().account_calls,
    checks=_checks,
    spacing=_spacing,
    requeue=lambda nid, delay, booked: enqueue.place_call(nid, countdown=delay, slot_booked=booked),
    prepare=_prepare,
)
