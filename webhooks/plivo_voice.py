"""Plivo's voice callbacks: what to say when answered, keypresses, machines, hang-ups.

Answer and keypress are handled here, synchronously: Plivo waits on the call
for our XML, and an acknowledgement must stop paging the moment 1 is
pressed, not after a queue. An answering machine gets a short voicemail
instead of the menu (webhooks.plivo_voicemail). Hang-ups are recorded here and
their follow-up (re-call or next step) runs in a worker.

With INCIDENT_BRIDGE the menu also offers 3, joining the alert's incident
bridge (webhooks.plivo_conference), and the confirmation of 1 offers it too;
a call of a step with `bridge: true` joins it on answer, without a menu.
Hang-ups also keep what the call lasted and cost (webhooks.voice_charges).

A callback counts only for the call it belongs to: the notification named in
its URL must be a voice notification Plivo placed as this very call (see
`call_binding`). Anything else is answered with a goodbye and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, Response, current_app, request
from sqlalchemy.orm import Session

from shared.alerts.ack_timed_out import ack_timed_out
from shared.alerts.changes import change_notes
from shared.alerts.lifecycle import acknowledge
from shared.core.db import session_scope
from shared.core.enums import AlertStatus, Channel
from shared.core.events import record_event
from shared.core.metrics import ALERT_ACTIONS, CALL_OUTCOMES, PLIVO_CALL_STATUSES, bounded_label
from shared.core.models import Alert, Notification, utcnow
from shared.core.phone import mask
from shared.core.settings import Settings
from shared.escalation.hurry import escalate_alert_now
from shared.escalation.plan import Position
from shared.notifications.bundling import most_severe_first
from shared.notifications.paging_metrics import observe_reached
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move, move_bundle
from shared.notifications.voice_xml import (
    ACK_DIGIT,
    BRIDGE_DIGIT,
    alert_call_xml,
    bundle_call_xml,
    keypress_response_xml,
    spoken_xml,
)
from shared.plivo.callback_urls import callback_url, notification_id_from
from webhooks.plivo_callbacks import verified_params
from webhooks.plivo_conference import (
    BRIDGED,
    answer_into_bridge,
    calls_into_bridge,
    join_bridge,
    offers_bridge,
)
from webhooks.plivo_voicemail import (
    MACHINE,
    apply_machine_report,
    call_alerts,
    set_outcome,
    transfer_to_voicemail,
    voicemail_response,
)
from webhooks.voice_call_binding import belongs_to_call
from webhooks.voice_charges import count_charge, record_charge

log = logging.getLogger(__name__)

bp = Blueprint("plivo_voice", __name__)

NOT_REACHED_STATUSES = {"busy", "failed", "timeout", "no-answer", "cancel"}


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


def _recent_changes(session: Session, alert: Alert) -> Sequence[str]:
    """Spoken notes on changes to the alert's service just before it (a deploy, say)."""
    window = timedelta(seconds=current_app.config["SETTINGS"].change_window_s)
    return change_notes(session, alert, now=utcnow(), window=window, spoken=True)


def _speak_alerts(
    session: Session, alerts: list[Alert], notification_id: int, *, bridge: bool = False
) -> str:
    """One alert read out with its service's recent changes, or for a bundle the
    count and the most severe one; `bridge`: the menu offers the incident bridge."""
    action_url, _repeat_url = _urls(notification_id)
    worst = most_severe_first(alerts)[0]
    service = worst.labels.get("service") or worst.source
    if len(alerts) == 1:
        changes = _recent_changes(session, worst)
        return alert_call_xml(
            worst.id,
            worst.severity,
            service,
            worst.summary,
            action_url,
            changes=changes,
            ack_timed_out=ack_timed_out(worst, utcnow()),
            bridge=bridge,
        )
    return bundle_call_xml(
        len(alerts), worst.id, worst.severity, service, worst.summary, action_url
    )


def _goodbye(text: str) -> str:
    return spoken_xml(text)


GONE = "This alert is no longer available. Goodbye."


def _alert_gone(notification_id: int) -> str:
    """A notification whose alert row is missing: nothing to read out or act on."""
    log.error("notification %s names an alert that does not exist", notification_id)
    return _goodbye(GONE)


NOT_THIS_CALL = "This call is not about an alert. Goodbye."


def _notification_of_call(
    session: Session, params: dict[str, str], endpoint: str
) -> Notification | Response:
    """The notification the callback URL names, if this call is the one placed for it;
    otherwise the XML that ends the call."""
    notification_id = _notification_id()
    notification = session.get(Notification, notification_id) if notification_id else None
    if notification is None:
        return _xml(_goodbye(GONE))
    if not belongs_to_call(session, notification, params, endpoint):
        return _xml(_goodbye(NOT_THIS_CALL))
    return notification


@bp.post("/plivo/voice/answer")
def answer() -> Response:
    params = verified_params("voice_answer")
    if isinstance(params, Response):
        return params
    with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
        notification = _notification_of_call(session, params, "voice_answer")
        if isinstance(notification, Response):
            return notification
        alert = session.get(Alert, notification.alert_id)
        if alert is None:
            return _xml(_alert_gone(notification.id))
        if not request.args.get("repeat"):
            answered = record_event(
                session,
                "call.answered",
                alert_id=alert.id,
                notification_id=notification.id,
                detail={"CallUUID": params.get("CallUUID")},
                dedup_key=f"call-answered:{params.get('CallUUID') or notification.id}",
            )
            if answered:
                observe_reached(session, notification.id, Channel.VOICE, utcnow())
            move(
                session,
                notification.id,
                S.SENT,
                reason="call answered",
                detail={"call_uuid": params.get("CallUUID")},
            )
        if notification.outcome == MACHINE:
            # Detected before this answer was handled: the voicemail, not the menu.
            return _xml(voicemail_response(session, notification, params.get("CallUUID", "")))
        open_alerts = call_alerts(session, notification)
        if not open_alerts:
            who = alert.acknowledged_by or "someone else"
            return _xml(_goodbye(f"This alert was already {alert.status} by {who}. Goodbye."))
        settings = current_app.config["SETTINGS"]
        if calls_into_bridge(session, settings, notification, alert):
            return _xml(answer_into_bridge(session, settings, notification, alert))
        bridge = offers_bridge(settings, session, notification)
        return _xml(_speak_alerts(session, open_alerts, notification.id, bridge=bridge))


@dataclass(frozen=True)
class Pressed:
    """What a key did: a step to fire now (2), the bridge's XML (3), whether to offer
    the bridge after an acknowledgement (1)."""

    due: Position | None = None
    bridge_xml: str | None = None
    offer_bridge: bool = False


@bp.post("/plivo/voice/input")
def keypress() -> Response:
    params = verified_params("voice_input")
    if isinstance(params, Response):
        return params
    digit = (params.get("Digits") or "").strip()[:1]
    notification_id = _notification_id()
    action_url, repeat_url = _urls(notification_id or 0)
    settings = current_app.config["SETTINGS"]
    with session_scope(settings.effective_database_url) as session:
        notification = session.get(Notification, notification_id) if notification_id else None
        if notification is None:
            return _xml(_goodbye(GONE))
        if not belongs_to_call(session, notification, params, "voice_input"):
            return _xml(_goodbye(NOT_THIS_CALL))
        alert = session.get(Alert, notification.alert_id)
        if alert is None:
            return _xml(_alert_gone(notification.id))
        record_event(
            session,
            "call.keypress",
            alert_id=alert.id,
            notification_id=notification.id,
            detail={"digit": digit},
        )
        pressed = _act_on(session, settings, notification, alert, digit)
        alert_id = alert.id
    if pressed.due is not None:
        current_app.config["ENQUEUE"].fire_step(alert_id, pressed.due.step, pressed.due.round)
    if pressed.bridge_xml is not None:
        return _xml(pressed.bridge_xml)
    offer = action_url if pressed.offer_bridge and digit == ACK_DIGIT else None
    return _xml(keypress_response_xml(digit, repeat_url, bridge_url=offer))


def _act_on(
    session: Session, settings: Settings, notification: Notification, alert: Alert, digit: str
) -> Pressed:
    """Acknowledge (1), escalate now (2) or join the incident bridge (3, when offered)."""
    who = notification.contact or mask(notification.destination)
    bridge = offers_bridge(settings, session, notification)
    if digit == "1":
        for target in call_alerts(session, notification) or [alert]:
            if acknowledge(session, target.id, by=who, via=Channel.VOICE).changed:
                ALERT_ACTIONS.labels(action=AlertStatus.ACKNOWLEDGED, via=Channel.VOICE).inc()
                log.info("alert %s acknowledged by %s on a call", target.id, who)
        set_outcome(session, notification.id, "acknowledged")
        return Pressed(offer_bridge=bridge)
    if digit == "2":
        set_outcome(session, notification.id, "escalated")
        due = escalate_alert_now(
            session,
            alert,
            after=Position(notification.step, notification.round),
            config_path=settings.config_file,
            reason=f"{who} pressed 2",
        )
        return Pressed(due=due)
    if digit == BRIDGE_DIGIT and bridge:
        return Pressed(bridge_xml=join_bridge(session, settings, notification, alert))
    return Pressed()


@bp.post("/plivo/voice/machine")
def machine() -> Response:
    """Plivo's machine detection found a machine: count the call as one, once, and move
    a call whose menu is already playing to its voicemail."""
    params = verified_params("voice_machine")
    if isinstance(params, Response):
        return params
    notification_id = _notification_id()
    if params.get("Machine", "").lower() != "true" or not notification_id:
        return Response("ok\n", mimetype="text/plain")
    settings = current_app.config["SETTINGS"]
    with session_scope(settings.effective_database_url) as session:
        notification = session.get(Notification, notification_id)
        if notification is None or not belongs_to_call(
            session, notification, params, "voice_machine"
        ):
            return Response("unknown call\n", mimetype="text/plain")
        report = apply_machine_report(session, notification, params)
    if not report.first:
        return Response("duplicate\n", mimetype="text/plain")
    if report.transfer is not None:
        transfer_to_voicemail(settings, report.transfer)
    return Response("ok\n", mimetype="text/plain")


@bp.post("/plivo/voice/voicemail")
def voicemail() -> Response:
    """Where a machine's call is moved: the voicemail, then hang up."""
    params = verified_params("voice_voicemail")
    if isinstance(params, Response):
        return params
    with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
        notification = _notification_of_call(session, params, "voice_voicemail")
        if isinstance(notification, Response):
            return notification
        return _xml(voicemail_response(session, notification, params.get("CallUUID", "")))


@bp.post("/plivo/voice/hangup")
def hangup() -> Response:
    params = verified_params("voice_hangup")
    if isinstance(params, Response):
        return params
    notification_id = _notification_id()
    status = params.get("CallStatus", "").lower()
    with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
        notification = session.get(Notification, notification_id) if notification_id else None
        if notification is None:
            log.warning("hangup for unknown call %s", params.get("CallUUID"))
            return Response("unknown call\n", mimetype="text/plain")
        if not belongs_to_call(session, notification, params, "voice_hangup"):
            return Response("unknown call\n", mimetype="text/plain")
        first = record_event(
            session,
            "call.hangup",
            alert_id=notification.alert_id,
            notification_id=notification.id,
            detail={
                k: params.get(k)
                for k in (
                    "CallUUID",
                    "CallStatus",
                    "HangupCause",
                    "Duration",
                    "AnswerTime",
                    "BillDuration",
                    "TotalCost",
                )
            },
            dedup_key=f"call-hangup:{params.get('CallUUID') or notification.id}",
        )
        if not first:
            return Response("duplicate\n", mimetype="text/plain")
        charge = record_charge(session, notification, params)
        outcome, unreached = _end_call(session, notification, status)
    count_charge(charge)
    CALL_OUTCOMES.labels(outcome=outcome, status=bounded_label(status, PLIVO_CALL_STATUSES)).inc()
    for nid in unreached:
        current_app.config["ENQUEUE"].notification_ended(nid)
    return Response("ok\n", mimetype="text/plain")


def _end_call(session: Session, notification: Notification, status: str) -> tuple[str, list[int]]:
    """Move a call that ended, and its bundle, to how it went: (the outcome counted, the
    notifications that reached nobody and need a follow-up)."""
    outcome = notification.outcome
    if outcome in ("acknowledged", "escalated", BRIDGED):
        move_bundle(
            session,
            notification.id,
            S.DELIVERED,
            reason=f"call ended: {outcome}",
            member_reason=f"bundle: {outcome}",
            members_follow_only_a_moved_lead=False,
        )
        return outcome, []
    if outcome != MACHINE:
        outcome = status if status in NOT_REACHED_STATUSES else "no_keypress"
    reason = f"not reached: {outcome}"
    moved = move_bundle(
        session,
        notification.id,
        S.UNDELIVERED,
        reason=reason,
        member_reason=reason,
        member_fields={"error_code": outcome},
        members_follow_only_a_moved_lead=False,
        error_code=outcome,
    )
    # The lead is followed up whether or not its own move applied.
    unreached = [notification.id, *moved.members]
    for nid in unreached:
        set_outcome(session, nid, "not_reached")
    return "not_reached", unreached
