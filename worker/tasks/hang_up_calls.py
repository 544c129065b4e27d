"""Silence every call still ringing for an alert that was acknowledged or resolved.

An acknowledgement stops every page not yet sent; a call already placed rings
on until Plivo is told to end it (`shared.notifications.live_calls` decides
which calls and how). Each call is ended through the account that placed it.

Runs at the highest priority, once per acknowledgement or resolution and
possibly twice for one alert (acknowledged, then resolved): a short Redis
claim keeps two runs from asking for one call at once, and an event per call
(`call.hung_up`, or `call.already_ended` when Plivo had nothing live) keyed by
its uuid keeps a later run from asking again. What cannot be ended yet is
looked at again by the task itself a moment later. Every failure is logged
and left for that next look, never raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from redis.exceptions import RedisError
from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.enums import AlertStatus, Channel
from shared.core.events import record_event
from shared.core.models import Alert, Event, Notification, utcnow
from shared.core.phone import mask
from shared.notifications.live_calls import (
    EndCall,
    Method,
    PlacedCall,
    calls_to_end,
    recheck_in,
)
from shared.notifications.state import LIVE
from shared.plivo.errors import PlivoError
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending.providers import provider_named, report

log = logging.getLogger(__name__)

HUNG_UP = "call.hung_up"
ALREADY_ENDED = "call.already_ended"
ANSWERED = "call.answered"
# The outcome the keypress callback stores when 1 was pressed on the call.
ACKNOWLEDGED_ON_CALL = "acknowledged"
# Longer than one request may take (connect plus read timeout), so a claim
# never lapses while its request is still out.
CLAIM_S = 30


@dataclass(frozen=True)
class Snapshot:
    """What the database says about a closed alert's calls, read in one transaction."""

    calls: list[PlacedCall]
    ended: frozenset[str]  # uuids a run ended
    settled: frozenset[str]  # uuids a run ended or found over
    closed_at: datetime


@app.task(name=task_names.HANG_UP_CALLS)
def hang_up_calls(alert_id: int) -> str:
    """End the alert's live calls; "alert-open" when it is still triggered."""
    try:
        return _hang_up(alert_id)
    except (SQLAlchemyError, RedisError, OSError) as exc:
        log.error("calls of alert %s not hung up: %s", alert_id, exc)
        return "error"


def _hang_up(alert_id: int) -> str:
    with session_scope(context.database_url()) as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return "unknown"
        if alert.status == AlertStatus.TRIGGERED:
            return "alert-open"
        snapshot = _snapshot(session, alert)
    outcomes = [(end, _end(end)) for end in calls_to_end(snapshot.calls, settled=snapshot.settled)]
    recorded = [(end, outcome) for end, outcome in outcomes if outcome in (HUNG_UP, ALREADY_ENDED)]
    if recorded:
        with session_scope(context.database_url()) as session:
            for end, kind in recorded:
                _record(session, alert_id, end, kind)
    ended = snapshot.ended | {end.uuid for end, outcome in recorded if outcome == HUNG_UP}
    delay = recheck_in(snapshot.calls, ended=ended, closed_at=snapshot.closed_at, now=utcnow())
    if delay is not None:
        enqueue.hang_up_calls(alert_id, countdown=delay)
    hung_up = sum(1 for _end_call, outcome in recorded if outcome == HUNG_UP)
    return f"hung up {hung_up} of {len(outcomes)}" + (" (checking again)" if delay else "")


def _snapshot(session: Session, alert: Alert) -> Snapshot:
    """The calls that carry this alert's live voice notifications (their own, or their
    bundle lead's), with what is known of each, and what earlier runs did."""
    live = session.scalars(
        select(Notification).where(
            Notification.alert_id == alert.id,
            Notification.channel == Channel.VOICE,
            Notification.state.in_([state.value for state in LIVE]),
        )
    ).all()
    lead_ids = list(dict.fromkeys(n.bundle_lead_id or n.id for n in live))
    leads = [lead for lead_id in lead_ids if (lead := session.get(Notification, lead_id))]
    calls = [
        PlacedCall(
            notification_id=lead.id,
            state=lead.state,
            destination=lead.destination,
            provider=lead.provider,
            request_uuid=lead.provider_uuid,
            call_uuid=_answered_as(session, lead.id),
            alerts_open=_alerts_open(session, lead.id),
            acknowledged_on_it=lead.outcome == ACKNOWLEDGED_ON_CALL,
        )
        for lead in leads
    ]
    done = session.execute(
        select(Event.kind, Event.detail).where(
            Event.notification_id.in_(lead_ids), Event.kind.in_((HUNG_UP, ALREADY_ENDED))
        )
    ).all()
    settled = {str((detail or {}).get("uuid")) for _kind, detail in done}
    ended = {str((detail or {}).get("uuid")) for kind, detail in done if kind == HUNG_UP}
    closed = [t for t in (alert.acknowledged_at, alert.resolved_at) if t is not None]
    return Snapshot(calls, frozenset(ended), frozenset(settled), max(closed, default=utcnow()))


def _answered_as(session: Session, notification_id: int) -> str | None:
    """The call uuid the answer callback recorded for this notification's call, if answered."""
    details = session.scalars(
        select(Event.detail)
        .where(Event.notification_id == notification_id, Event.kind == ANSWERED)
        .order_by(Event.id.desc())
    ).all()
    uuids = [d.get("CallUUID") for d in details if isinstance(d, dict)]
    return next((u for u in uuids if isinstance(u, str) and u), None)


def _alerts_open(session: Session, lead_id: int) -> bool:
    """Whether any alert the call speaks for (its own or a bundled one) is still triggered."""
    open_alert = session.scalar(
        select(Alert.id)
        .join(Notification, Notification.alert_id == Alert.id)
        .where(
            or_(Notification.id == lead_id, Notification.bundle_lead_id == lead_id),
            Alert.status == AlertStatus.TRIGGERED,
        )
        .limit(1)
    )
    return open_alert is not None


def _end(end: EndCall) -> str:
    """Ask the account that placed the call to end it: HUNG_UP, ALREADY_ENDED, or why not."""
    claims = context.redis_client()
    claim = f"hang-up:{end.uuid}"
    if not claims.set(claim, "1", nx=True, ex=CLAIM_S):
        return "claimed"
    provider = provider_named(end.provider)
    request = (
        provider.client.hang_up_call
        if end.method is Method.HANG_UP
        else provider.client.cancel_call_request
    )
    try:
        ended = request(end.uuid)
    except PlivoError as exc:
        report(provider, exc)
        claims.delete(claim)
        log.warning(
            "call to %s not ended (%s %s at %s): %s",
            mask(end.destination),
            end.method.value,
            end.uuid,
            provider.name,
            exc,
        )
        return "failed"
    report(provider, None)
    return HUNG_UP if ended else ALREADY_ENDED


def _record(session: Session, alert_id: int, end: EndCall, kind: str) -> None:
    record_event(
        session,
        kind,
        alert_id=alert_id,
        notification_id=end.notification_id,
        detail={
            "to": mask(end.destination),
            "method": end.method.value,
            "uuid": end.uuid,
            "provider": end.provider,
        },
        dedup_key=f"call-hung-up:{end.uuid}",
    )
    log.info(
        "alert %s: call to %s %s",
        alert_id,
        mask(end.destination),
        "hung up" if kind == HUNG_UP else "already over",
    )
