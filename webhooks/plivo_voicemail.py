"""Answering machines on alert calls: a short voicemail, left once per call.

Machine detection is asynchronous here (the call is placed with a
machine_detection_url, PLIVO.md): Plivo answers, fetches our answer URL at
once, and reports a machine up to machine_detection_time (5 s by default)
later, when the machine is already recording the keypress menu. Plivo plays
nothing we answer to that report; a call in progress is moved with the Live
Call API instead (`POST /Call/{call_uuid}/` with `legs=aleg` and `aleg_url`),
which stops the XML playing, mid-prompt, and plays what `aleg_url` returns:
here `/plivo/voice/voicemail`, the alert in one sentence and the SMS reply
code that acknowledges it (shared.notifications.voicemail).

At most once: a report is applied once per call (`call-machine:<CallUUID>`,
on top of the nonce check every callback passes), and the voicemail is served
once per call (`call-voicemail:<CallUUID>`); any later fetch only hangs up. A
report handled before the answer callback needs no transfer, since the answer
then leaves the voicemail itself; the transfer is decided in the same
transaction that sets the outcome, so the two never both leave it. A person
who already pressed 1 or 2 keeps what they did: a late verdict changes nothing.

Either way the call ends as a machine: not reached, then re-called or the
chain moved on exactly as for a call nobody answered (`_end_call` in
webhooks.plivo_voice, then escalation.notification_ended).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.core.enums import AlertStatus
from shared.core.events import record_event
from shared.core.models import Alert, Event, Notification
from shared.core.phone import mask
from shared.core.settings import Settings
from shared.notifications.bundle_members import members_of
from shared.notifications.bundling import most_severe_first
from shared.notifications.voice_xml import hangup_xml, voicemail_xml
from shared.notifications.voicemail import voicemail_words
from shared.plivo.callback_urls import callback_url
from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoError, PlivoNotFound
from shared.plivo.request_metrics import endpoint_of
from shared.replies.code_store import code_for

log = logging.getLogger(__name__)

MACHINE: Final = "machine"
VOICEMAIL_PATH: Final = "/plivo/voice/voicemail"
# The account a notification was placed through (worker.sending.providers).
BACKUP_PROVIDER: Final = "backup"
# Plivo waits on the machine report's answer, and the machine is recording
# meanwhile: a transfer that takes longer than this is not worth waiting for.
TRANSFER_READ_TIMEOUT_S: Final = 5.0


@dataclass(frozen=True)
class Transfer:
    """A call to move to its voicemail once the report's transaction is committed."""

    notification_id: int
    call_uuid: str
    provider: str | None
    destination: str


@dataclass(frozen=True)
class MachineReport:
    """What applying a machine report did: `first` False when this call's report was
    applied before (nothing done again); `transfer` the move to make, if any."""

    first: bool
    transfer: Transfer | None = None


def set_outcome(session: Session, notification_id: int, outcome: str) -> bool:
    """Record how a call went; the first decisive outcome (ack, escalate) is kept."""
    return (
        session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.outcome.is_(None) | (Notification.outcome == MACHINE),
            )
            .values(outcome=outcome)
        ).rowcount
        == 1
    )


def call_alerts(session: Session, lead: Notification) -> list[Alert]:
    """The open alerts a call is about: its own, and its bundle members'."""
    ids = [lead.alert_id]
    for member_id in members_of(session, lead.id):
        member = session.get(Notification, member_id)
        if member is not None:
            ids.append(member.alert_id)
    alerts = [session.get(Alert, i) for i in dict.fromkeys(ids)]
    return [a for a in alerts if a is not None and a.status == AlertStatus.TRIGGERED]


def apply_machine_report(
    session: Session, notification: Notification, params: dict[str, str]
) -> MachineReport:
    """Count the call as a machine, once, and say whether its menu must be cut short."""
    call_uuid = params.get("CallUUID", "")
    first = record_event(
        session,
        "call.machine",
        alert_id=notification.alert_id,
        notification_id=notification.id,
        detail={"CallUUID": call_uuid},
        dedup_key=f"call-machine:{call_uuid or notification.id}",
    )
    if not first:
        return MachineReport(first=False)
    if not set_outcome(session, notification.id, MACHINE):
        log.info(
            "call %s: machine reported after it was decided (%s); kept",
            call_uuid,
            notification.outcome,
        )
        return MachineReport(first=True)
    if not call_uuid or not _menu_began(session, notification.id, call_uuid):
        return MachineReport(first=True)  # the answer callback leaves the voicemail
    return MachineReport(
        first=True,
        transfer=Transfer(
            notification_id=notification.id,
            call_uuid=call_uuid,
            provider=notification.provider,
            destination=notification.destination,
        ),
    )


def _menu_began(session: Session, notification_id: int, call_uuid: str) -> bool:
    """Whether the answer callback of this call was handled (its menu is playing)."""
    answered = session.scalar(
        select(Event.id).where(
            Event.dedup_key == f"call-answered:{call_uuid}",
            Event.notification_id == notification_id,
        )
    )
    return answered is not None


def voicemail_response(session: Session, notification: Notification, call_uuid: str) -> str:
    """The voicemail's XML the first time it is asked for on this call; a bare hang-up
    after that, or when every alert of the call was closed meanwhile."""
    if notification.outcome != MACHINE:
        return hangup_xml()
    left = record_event(
        session,
        "call.voicemail",
        alert_id=notification.alert_id,
        notification_id=notification.id,
        detail={"CallUUID": call_uuid},
        dedup_key=f"call-voicemail:{call_uuid or notification.id}",
    )
    if not left:
        log.info("call %s: voicemail already left, hanging up", call_uuid or notification.id)
        return hangup_xml()
    alerts = call_alerts(session, notification)
    if not alerts:
        return hangup_xml()
    worst = most_severe_first(alerts)[0]
    words = voicemail_words(
        alert_id=worst.id,
        severity=worst.severity,
        service=worst.labels.get("service") or worst.source,
        summary=worst.summary,
        reply_code=_reply_code(session, alerts, notification.destination),
        alert_count=len(alerts),
    )
    log.info(
        "voicemail for alert %s left on the machine of %s", worst.id, mask(notification.destination)
    )
    return voicemail_xml(words)


def _reply_code(session: Session, alerts: list[Alert], destination: str) -> int | None:
    """The person's SMS reply code for these alerts, the one their texts carry."""
    try:
        return code_for(session, [a.id for a in alerts], destination)
    except RuntimeError as exc:
        log.error("no reply code for the voicemail to %s: %s", mask(destination), exc)
        return None


def transfer_to_voicemail(settings: Settings, transfer: Transfer) -> bool:
    """Move the call to its voicemail through the account that placed it. Never raises:
    a call that is not moved plays its menu out and still ends as a machine."""
    url = callback_url(settings.public_base_url, VOICEMAIL_PATH, transfer.notification_id)
    client = plivo_client_for(settings, transfer.provider)
    to = mask(transfer.destination)
    try:
        moved = _transfer(client, transfer.call_uuid, url)
    except PlivoError as exc:
        log.warning("call %s to %s not moved to its voicemail: %s", transfer.call_uuid, to, exc)
        return False
    finally:
        client.close()
    if moved:
        log.info("call %s to %s moved to its voicemail", transfer.call_uuid, to)
    else:
        log.info("call %s to %s was over before its voicemail", transfer.call_uuid, to)
    return moved


def _transfer(client: PlivoClient, call_uuid: str, aleg_url: str) -> bool:
    """Live Call API transfer, `POST /Call/{call_uuid}/` with `legs=aleg`: Plivo stops the
    XML playing and plays what `aleg_url` returns. False when the call is over (404)."""
    path = f"/Call/{quote(call_uuid, safe='')}/"
    url = f"{client.base_url}/v1/Account/{client.auth_id}{path}"
    body = {"legs": "aleg", "aleg_url": aleg_url, "aleg_method": "POST"}
    try:
        client.request_url("POST", url, endpoint_of("POST", path), json=body, expect=(202,))
    except PlivoNotFound:
        return False
    return True


def plivo_client_for(settings: Settings, provider: str | None) -> PlivoClient:
    backup = provider == BACKUP_PROVIDER and settings.has_backup_account
    return PlivoClient(
        auth_id=(settings.plivo_backup_auth_id if backup else settings.plivo_auth_id) or "",
        auth_token=(settings.plivo_backup_auth_token if backup else settings.plivo_auth_token)
        or "",
        base_url=(settings.plivo_backup_base_url if backup else None) or settings.plivo_base_url,
        connect_timeout=settings.plivo_connect_timeout,
        read_timeout=min(settings.plivo_read_timeout, TRANSFER_READ_TIMEOUT_S),
        pool_size=1,
    )
