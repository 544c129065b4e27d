"""Plivo's voice callbacks: what to say when answered, keypresses, machines, hang-ups.

Answer and keypress are handled here, synchronously: Plivo waits on the call
for our XML, and an acknowledgement must stop paging the moment 1 is
pressed, not after a queue. Hang-ups are recorded here and their follow-up
(re-call or next step) runs in a worker.

A callback counts only for the call it belongs to: the notification named in
its URL must be a voice notification Plivo placed as this very call (see
`call_binding`). Anything else is answered with a goodbye and changes nothing.
"""

from __future__ import annotations

import logging
from typing import Final, Literal

from flask import Blueprint, Response, current_app, request
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.alerts.lifecycle import acknowledge
from shared.core.db import session_scope
from shared.core.events import record_event
from shared.core.metrics import ALERT_ACTIONS, CALL_OUTCOMES, CALLBACKS_REJECTED
from shared.core.models import Alert, Event, Notification
from shared.core.phone import mask
from shared.escalation.plan import Position
from shared.notifications.bundling import most_severe_first
from shared.notifications.state import NotificationState as S
from shared.notifications.store import members_of, move, move_members
from shared.notifications.voice_xml import (
    alert_call_xml,
    bundle_call_xml,
    keypress_response_xml,
    machine_message_xml,
    spoken_xml,
)
from shared.plivo.callback_urls import callback_url, notification_id_from
from shared.routing.route import escalate_alert_now
from webhooks.plivo_callbacks import verified_params

log = logging.getLogger(__name__)

bp = Blueprint("plivo_voice", __name__)

NOT_REACHED_STATUSES = {"busy", "failed", "timeout", "no-answer", "cancel"}

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
    if channel != "voice":
        return "not_ours"
    uuids = {uuid for uuid in (request_uuid, call_uuid) if uuid}
    if not uuids:
        return "not_ours"
    if answered_as_this_call or provider_uuid in uuids:
        return "ours"
    if provider_uuid is None and state in IN_FLIGHT and request_uuid:
        return "learn"
    return "not_ours"


def _xml(body: str) -> Response:
    return Response(body, status=200, mimetype="application/xml")


def _notification_id() -> int | None:
    return notification_id_from(request.args)


def _urls(notification_id: int) -> tuple[str, str]:
    """The keypress URL, and the answer URL again for "repeat" (flagged so it is not
    counted as a second answer)."""
    base = current_app.config["SETTINGS"].public_base_url
    return (
        callback_url(base, "/plivo/voice/input", notification_id),
        callback_url(base, "/plivo/voice/answer", notification_id, repeat=1),
    )


def _speak_alerts(alerts: list[Alert], notification_id: int) -> str:
    """One alert read out, or for a bundle the count and the most severe one."""
    action_url, _repeat_url = _urls(notification_id)
    worst = most_severe_first(alerts)[0]
    service = worst.labels.get("service") or worst.source
    if len(alerts) == 1:
        return alert_call_xml(worst.id, worst.severity, service, worst.summary, action_url)
    return bundle_call_xml(
        len(alerts), worst.id, worst.severity, service, worst.summary, action_url
    )


def _call_alerts(session, lead: Notification) -> list[Alert]:  # type: ignore[no-untyped-def]
    """The open alerts a call is about: its own, and its bundle members'."""
    ids = [
        lead.alert_id,
        *(session.get(Notification, m).alert_id for m in members_of(session, lead.id)),
    ]
    alerts = [session.get(Alert, i) for i in dict.fromkeys(ids)]
    return [a for a in alerts if a is not None and a.status == "triggered"]


def _goodbye(text: str) -> str:
    return spoken_xml(text)


NOT_THIS_CALL = "This call is not about an alert. Goodbye."


def _belongs_to_call(
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


@bp.post("/plivo/voice/answer")
def answer() -> Response:
    params = verified_params("voice_answer")
    if isinstance(params, Response):
        return params
    notification_id = _notification_id()
    with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
        notification = session.get(Notification, notification_id) if notification_id else None
        if notification is None:
            return _xml(_goodbye("This alert is no longer available. Goodbye."))
        if not _belongs_to_call(session, notification, params, "voice_answer"):
            return _xml(_goodbye(NOT_THIS_CALL))
        alert = session.get(Alert, notification.alert_id)
        assert alert is not None
        if not request.args.get("repeat"):
            record_event(
                session,
                "call.answered",
                alert_id=alert.id,
                notification_id=notification.id,
                detail={"CallUUID": params.get("CallUUID")},
                dedup_key=f"call-answered:{params.get('CallUUID') or notification.id}",
            )
            move(
                session,
                notification.id,
                S.SENT,
                reason="call answered",
                detail={"call_uuid": params.get("CallUUID")},
            )
        if notification.outcome == "machine":
            return _xml(machine_message_xml(alert.id, alert.severity, alert.summary))
        open_alerts = _call_alerts(session, notification)
        if not open_alerts:
            who = alert.acknowledged_by or "someone else"
            return _xml(_goodbye(f"This alert was already {alert.status} by {who}. Goodbye."))
        return _xml(_speak_alerts(open_alerts, notification.id))


@bp.post("/plivo/voice/input")
def keypress() -> Response:
    params = verified_params("voice_input")
    if isinstance(params, Response):
        return params
    digit = (params.get("Digits") or "").strip()[:1]
    notification_id = _notification_id()
    _action_url, repeat_url = _urls(notification_id or 0)
    settings = current_app.config["SETTINGS"]
    due = None
    with session_scope(settings.effective_database_url) as session:
        notification = session.get(Notification, notification_id) if notification_id else None
        if notification is None:
            return _xml(_goodbye("This alert is no longer available. Goodbye."))
        if not _belongs_to_call(session, notification, params, "voice_input"):
            return _xml(_goodbye(NOT_THIS_CALL))
        alert = session.get(Alert, notification.alert_id)
        assert alert is not None
        record_event(
            session,
            "call.keypress",
            alert_id=alert.id,
            notification_id=notification.id,
            detail={"digit": digit},
        )
        who = notification.contact or mask(notification.destination)
        if digit == "1":
            for target in _call_alerts(session, notification) or [alert]:
                if acknowledge(session, target.id, by=who, via="voice").changed:
                    ALERT_ACTIONS.labels(action="acknowledged", via="voice").inc()
                    log.info("alert %s acknowledged by %s on a call", target.id, who)
            _set_outcome(session, notification.id, "acknowledged")
        elif digit == "2":
            _set_outcome(session, notification.id, "escalated")
            due = escalate_alert_now(
                session,
                alert,
                after=Position(notification.step, notification.round),
                config_path=settings.config_file,
                reason=f"{who} pressed 2",
            )
        alert_id = alert.id
    if due is not None:
        current_app.config["ENQUEUE"].fire_step(alert_id, due.step, due.round)
    return _xml(keypress_response_xml(digit, repeat_url))


@bp.post("/plivo/voice/machine")
def machine() -> Response:
    params = verified_params("voice_machine")
    if isinstance(params, Response):
        return params
    notification_id = _notification_id()
    if params.get("Machine", "").lower() == "true" and notification_id:
        with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
            notification = session.get(Notification, notification_id)
            if notification is None or not _belongs_to_call(
                session, notification, params, "voice_machine"
            ):
                return Response("unknown call\n", mimetype="text/plain")
            if _set_outcome(session, notification_id, "machine"):
                record_event(
                    session,
                    "call.machine",
                    notification_id=notification_id,
                    alert_id=session.get(Notification, notification_id).alert_id,
                )
    return Response("ok\n", mimetype="text/plain")


@bp.post("/plivo/voice/hangup")
def hangup() -> Response:
    params = verified_params("voice_hangup")
    if isinstance(params, Response):
        return params
    notification_id = _notification_id()
    status = params.get("CallStatus", "").lower()
    ended_unreached = False
    unreached: list[int] = []
    with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
        notification = session.get(Notification, notification_id) if notification_id else None
        if notification is None:
            log.warning("hangup for unknown call %s", params.get("CallUUID"))
            return Response("unknown call\n", mimetype="text/plain")
        if not _belongs_to_call(session, notification, params, "voice_hangup"):
            return Response("unknown call\n", mimetype="text/plain")
        first = record_event(
            session,
            "call.hangup",
            alert_id=notification.alert_id,
            notification_id=notification.id,
            detail={
                k: params.get(k)
                for k in ("CallUUID", "CallStatus", "HangupCause", "Duration", "AnswerTime")
            },
            dedup_key=f"call-hangup:{params.get('CallUUID') or notification.id}",
        )
        if not first:
            return Response("duplicate\n", mimetype="text/plain")
        outcome = notification.outcome
        if outcome in ("acknowledged", "escalated"):
            move(session, notification.id, S.DELIVERED, reason=f"call ended: {outcome}")
            move_members(session, notification.id, S.DELIVERED, reason=f"bundle: {outcome}")
        else:
            if outcome != "machine":
                outcome = status if status in NOT_REACHED_STATUSES else "no_keypress"
            reason = f"not reached: {outcome}"
            move(session, notification.id, S.UNDELIVERED, reason=reason, error_code=outcome)
            members = move_members(
                session, notification.id, S.UNDELIVERED, reason=reason, error_code=outcome
            )
            unreached = [notification.id, *members]
            for nid in unreached:
                _set_outcome(session, nid, "not_reached")
            ended_unreached = True
    CALL_OUTCOMES.labels(outcome="not_reached" if ended_unreached else outcome).inc()
    if ended_unreached:
        for nid in unreached:
            current_app.config["ENQUEUE"].notification_ended(nid)
    return Response("ok\n", mimetype="text/plain")


def _set_outcome(session: Session, notification_id: int, outcome: str) -> bool:
    """Record how a call went; the first decisive outcome (ack, escalate) is kept."""
    return (
        session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.outcome.is_(None) | (Notification.outcome == "machine"),
            )
            .values(outcome=outcome)
        ).rowcount
        == 1
    )
