"""Whether a voice callback is about the call its URL names.

A callback's `?n=` names a notification; the call it reports on is named by
Plivo's `RequestUUID` and `CallUUID`. A callback for another call (a replayed
or crossed URL) must not act on this notification, and a call whose uuid the
worker has not stored yet (Plivo called back first) is recognised and bound.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.core.enums import Channel
from shared.core.metrics import CALLBACKS_REJECTED
from shared.core.models import Event, Notification
from shared.notifications.state import NotificationState as S

log = logging.getLogger(__name__)

# Our own bookkeeping of a call Plivo already accepted may still be catching up:
# the create-call answer (and its request_uuid) is stored after Plivo may
# already have rung, answered and called us back.
IN_FLIGHT: Final = frozenset({S.SENDING.value, S.UNKNOWN.value})

Binding = Literal["ours", "learn", "not_ours"]


def call_binding(
    *,
    channel: str,
    provider_uuid: str | None,
    state: str,
    request_uuid: str,
    call_uuid: str,
    answered_as_this_call: bool,
) -> Binding:
    """Whether a voice callback belongs to the notification its URL names.

    We store Plivo's `request_uuid` from the create-call answer (a looked-up
    call may be stored by its CallUUID); every callback carries `RequestUUID`
    and `CallUUID`. "learn": the call is ours but its uuid is not stored yet
    (the race above), so take it from this callback. A CallUUID the answer
    callback already bound to this notification also counts (a keypress
    callback need not repeat the RequestUUID).
    """
    if channel != Channel.VOICE:
        return "not_ours"
    uuids = {uuid for uuid in (request_uuid, call_uuid) if uuid}
    if not uuids:
        return "not_ours"
    if answered_as_this_call or provider_uuid in uuids:
        return "ours"
    if provider_uuid is None and state in IN_FLIGHT and request_uuid:
        return "learn"
    return "not_ours"


def belongs_to_call(
    session: Session, notification: Notification, params: dict[str, str], endpoint: str
) -> bool:
    """True when this callback is about `notification`'s own call; else logged and counted."""
    request_uuid = params.get("RequestUUID", "")
    call_uuid = params.get("CallUUID", "")
    answered = bool(call_uuid) and (
        session.scalar(
            select(Event.id).where(
                Event.dedup_key == f"call-answered:{call_uuid}",
                Event.notification_id == notification.id,
            )
        )
        is not None
    )
    binding = call_binding(
        channel=notification.channel,
        provider_uuid=notification.provider_uuid,
        state=notification.state,
        request_uuid=request_uuid,
        call_uuid=call_uuid,
        answered_as_this_call=answered,
    )
    if binding == "learn" and _learn_call_uuid(session, notification.id, request_uuid):
        return True
    if binding == "ours":
        return True
    CALLBACKS_REJECTED.labels(endpoint=endpoint, reason="wrong_call").inc()
    log.warning(
        "%s callback for call %s ignored: notification %s (%s) is not that call",
        endpoint,
        call_uuid or request_uuid or "(none)",
        notification.id,
        notification.channel,
    )
    return False


def _learn_call_uuid(session: Session, notification_id: int, request_uuid: str) -> bool:
    """Store the call's request uuid the worker has not stored yet; False if taken."""
    try:
        with session.begin_nested():
            return (
                session.execute(
                    update(Notification)
                    .where(Notification.id == notification_id, Notification.provider_uuid.is_(None))
                    .values(provider_uuid=request_uuid)
                ).rowcount
                == 1
            )
    except IntegrityError:
        return False
