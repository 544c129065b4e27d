"""The incident bridge on the receiver: joining it from a page, and Plivo's reports on it.

Pressing 3 on a page call (INCIDENT_BRIDGE) answers with the alert's
`<Conference>` (shared.notifications.voice_xml.bridge_xml). The person was
reached: the page is delivered at once, so the chain does not call them
again, and an acknowledgement by someone else does not hang up their bridge
(only live pages are hung up). Joining does not acknowledge: whoever wants
to stop the chain presses 1 first, and is offered 3 after it.

A call of a step with `bridge: true` (shared.incident_bridge.step_calls) needs
no keypress: answered, the person hears the alert and who is already in the
bridge, and joins it with the same XML, whether INCIDENT_BRIDGE offers the
keypress or not (the on-call file asked for it by name).

A member's entry with others in the room is announced to them ("bob joined
the incident bridge.", shared.incident_bridge.announce) once it is recorded.

Plivo posts each member's entry and exit, and the recording, to
`/plivo/voice/bridge?n=<notification>`: verified as every callback
(signature, then the nonce: a replay is refused with 403), the room must be
the bridge of that notification's alert and, for a member, the call that
notification placed; each report is recorded once in the alert's timeline
(`bridge.joined`, `bridge.left`, `bridge.recording`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final

from flask import Blueprint, Response, current_app, request
from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.events import record_event
from shared.core.metrics import CALLBACKS_REJECTED
from shared.core.models import Alert, Notification
from shared.core.phone import mask
from shared.core.settings import Settings
from shared.incident_bridge.announce import joined_words, others_in_room, speak_into_room
from shared.incident_bridge.reports import (
    BridgeEvent,
    BridgeReport,
    NotReported,
    conference_name,
    read_report,
)
from shared.incident_bridge.step_calls import (
    already_in_sentence,
    is_bridge_step,
    present,
    with_intro,
)
from shared.incident_bridge.store import bridge_events
from shared.notifications.bundle_members import members_of
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move
from shared.notifications.voice_xml import announcement, bridge_xml
from shared.plivo.callback_urls import callback_url, notification_id_from
from shared.routing.route import config_and_policy
from webhooks.plivo_callbacks import verified_params
from webhooks.plivo_voicemail import plivo_client_for, set_outcome
from webhooks.voice_call_binding import belongs_to_call

log = logging.getLogger(__name__)

bp = Blueprint("plivo_conference", __name__)

BRIDGE_PATH: Final = "/plivo/voice/bridge"
# The outcome of a page whose callee joined the bridge: reached, not acknowledged.
BRIDGED: Final = "bridged"


def _text(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def offers_bridge(settings: Settings, session: Session, notification: Notification) -> bool:
    """Whether this call's menu offers the bridge: enabled, and a call about one alert
    (a bundle's call names several, and a bridge is one alert's)."""
    return settings.incident_bridge and not members_of(session, notification.id)


def who_joins(notification: Notification) -> str:
    """The person as the timeline and the log name them: contact name, or masked number."""
    return notification.contact or mask(notification.destination)


def join_bridge(
    session: Session, settings: Settings, notification: Notification, alert: Alert
) -> str:
    """The XML that puts this call in the alert's bridge; the page counts as delivered."""
    who = who_joins(notification)
    name = conference_name(alert.id)
    record_event(
        session,
        BridgeEvent.OPENED,
        alert_id=alert.id,
        notification_id=notification.id,
        detail={"by": who, "conference": name, "recorded": settings.incident_bridge_record},
        dedup_key=f"bridge-opened:{alert.id}",
    )
    set_outcome(session, notification.id, BRIDGED)
    move(session, notification.id, S.DELIVERED, reason="joined the incident bridge")
    log.info("%s joins the incident bridge of alert %s", who, alert.id)
    url = callback_url(settings.public_base_url, BRIDGE_PATH, notification.id)
    return bridge_xml(
        alert.id, name, notification.contact, url, record=settings.incident_bridge_record
    )


def calls_into_bridge(
    session: Session, settings: Settings, notification: Notification, alert: Alert
) -> bool:
    """Whether this answered call is a bridge step's: a voice page about one alert (not a
    bundle's call) whose step in the alert's chain says `bridge: true`."""
    if members_of(session, notification.id) or notification.bundle_lead_id is not None:
        return False
    found = config_and_policy(alert, settings.config_file)
    return found is not None and is_bridge_step(found[1], notification.step)


def answer_into_bridge(
    session: Session, settings: Settings, notification: Notification, alert: Alert
) -> str:
    """A bridge step's answered call: the alert and who is in the bridge, then the room."""
    inside = present(bridge_events(session, alert.id))
    service = alert.labels.get("service") or alert.source
    intro = announcement(alert.id, alert.severity, service, alert.summary)
    joining = join_bridge(session, settings, notification, alert)
    return with_intro(joining, f"{intro} {already_in_sentence(inside)}")


@bp.post(BRIDGE_PATH)
def bridge_report() -> Response:
    """A member entered or left the alert's bridge, or its recording is ready."""
    params = verified_params("voice_bridge")
    if isinstance(params, Response):
        return params
    try:
        report = read_report(params)
    except NotReported as exc:
        if exc.field == "ConferenceAction":
            return _text("ignored\n")  # digits, floor: not recorded here
        log.warning("conference callback refused: %s", exc)
        return _text(f"{exc}\n", 422)
    notification_id = notification_id_from(request.args)
    with session_scope(current_app.config["SETTINGS"].effective_database_url) as session:
        notification = session.get(Notification, notification_id) if notification_id else None
        if notification is None or notification.alert_id != report.alert_id:
            CALLBACKS_REJECTED.labels(endpoint="voice_bridge", reason="wrong_call").inc()
            log.warning("conference callback for %s names another call", report.conference)
            return _text("unknown call\n")
        member = report.event is not BridgeEvent.RECORDING
        if member and not belongs_to_call(session, notification, params, "voice_bridge"):
            return _text("unknown call\n")
        first = _record(session, notification, report)
        tell = _to_announce(session, notification, report) if first else None
    if tell is not None:
        _announce(current_app.config["SETTINGS"], tell)
    return _text("ok\n" if first else "duplicate\n")


@dataclass(frozen=True)
class Announcement:
    """Who joined, told to the members already in the room, through the account that
    placed the joiner's call."""

    provider: str | None
    conference: str
    member_ids: tuple[str, ...]
    text: str


def _to_announce(
    session: Session, notification: Notification, report: BridgeReport
) -> Announcement | None:
    """A join with others in the room is announced to them; None otherwise."""
    if report.event is not BridgeEvent.JOINED:
        return None
    events = bridge_events(session, report.alert_id)
    others = others_in_room(events, report.conference_uuid, report.member_id)
    if not others:
        return None
    words = joined_words(who_joins(notification))
    return Announcement(notification.provider, report.conference, tuple(others), words)


def _announce(settings: Settings, announcement: Announcement) -> None:
    """After the join is committed: a failed announcement is logged, never the callback's."""
    client = plivo_client_for(settings, announcement.provider)
    try:
        said = speak_into_room(
            client, announcement.conference, announcement.member_ids, announcement.text
        )
    finally:
        client.close()
    if said:
        log.info(
            "incident bridge %s: join announced to %d member(s)",
            announcement.conference,
            len(announcement.member_ids),
        )


def _record(session: Session, notification: Notification, report: BridgeReport) -> bool:
    """The report in the alert's timeline, once; logged with the person masked."""
    who = who_joins(notification)
    first = record_event(
        session,
        report.event,
        alert_id=report.alert_id,
        notification_id=notification.id,
        detail=report.detail(who),
        dedup_key=report.dedup_key,
    )
    if first and report.event is BridgeEvent.RECORDING:
        log.info("incident bridge of alert %s recorded: %s s", report.alert_id, report.duration_s)
    elif first:
        log.info("%s: %s (alert %s)", report.event, who, report.alert_id)
    return first
