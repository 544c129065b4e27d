"""The one path every page takes to Plivo, for SMS and calls alike.

1. Load and guard: only a pending, due notification of a triggered alert goes.
2. Bundle window: a person paged moments ago waits for the window to close,
   and whatever else piles up for them meanwhile leaves as one message.
3. Rate limits: a slot is booked in the global limiter; a wait is taken by
   re-enqueueing with a countdown, never by holding the worker.
4. Claim: the notification and the person's other due notifications on the
   channel, each by compare-and-set, committed before the request.
5. Spacing: a short, bounded sleep keeps requests actually sent spaced.
6. Last check: after every wait and as the very last step before the request,
   one read that the claim is still ours and an alert it pages for is still
   triggered (an acknowledgement cancels only pending rows, not claimed ones).
   An acknowledgement after that read and before the request is the one
   window left: nothing but building the request lies between them.
7. Deliver, then record the outcome on the lead and its bundle members.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from prometheus_client import Counter
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.metrics import BUNDLED_ALERTS, BUNDLES_SENT, OPTED_OUT_SKIPS
from shared.core.models import Alert, Notification, utcnow
from shared.core.phone import mask
from shared.notifications.guard import may_still_send, stop_reason
from shared.notifications.state import NotificationState as S
from shared.notifications.store import claim_bundle, is_opted_out, move, move_members
from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoError
from shared.sending.limits import Checks
from shared.sending.rate_limiter import Limit
from worker import context, enqueue
from worker.providers import choose_provider, report
from worker.send_failures import record_send_failure
from worker.send_gate import (
    bundle_hold,
    hold_send_spacing,
    is_due,
    pass_gate,
    release_bundle_window,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What Plivo answered: its uuid for the lead (None: the destination was refused)."""

    provider_uuid: str | None
    detail: dict[str, str]


@dataclass(frozen=True)
class ChannelOps:
    """What differs between SMS and calls; everything else is shared."""

    name: str  # "sms" | "voice"
    counter: Counter
    account_limit: Callable[[], Limit]
    checks: Callable[[Notification], Checks]
    spacing: Callable[[Notification], Checks]  # checked again just before the request
    requeue: Callable[[int, float, bool], bool]  # (notification id, countdown, slot booked)
    # Builds the request from the claimed bundle (lead first) inside the claiming
    # transaction; returns a callable that performs it, with the chosen
    # account's client, outside any transaction.
    prepare: Callable[[Session, Sequence[Notification]], Callable[[PlivoClient], Delivery]]


def run_send(notification_id: int, slot_booked: bool, ops: ChannelOps) -> str:
    url = context.database_url()
    with session_scope(url) as session:
        notification = session.get(Notification, notification_id)
        if notification is None or notification.state != S.PENDING.value:
            ops.counter.labels(result="skipped").inc()
            return "skipped"
        if not is_due(notification):
            return "not-due"  # a scheduled re-send; the tick hands it over when due
        destination = notification.destination
        opted_out = ops.name == "sms" and is_opted_out(session, destination)
        if opted_out:
            move(
                session,
                notification_id,
                S.CANCELLED,
                reason="number opted out with STOP",
                from_state=S.PENDING,
            )
        checks = ops.checks(notification)
    if opted_out:
        OPTED_OUT_SKIPS.inc()
        log.error(
            "notification %s not sent: on-call number %s opted out with STOP",
            notification_id,
            mask(destination),
        )
        enqueue.notification_ended(notification_id)
        return "opted-out"

    if not slot_booked:
        hold = bundle_hold(ops.name, destination)
        if hold > 0:
            ops.requeue(notification_id, hold, False)
            return "held-for-bundle"
    gate = pass_gate(checks, slot_booked=slot_booked)
    if not gate.go:
        ops.requeue(notification_id, gate.delay_s, gate.slot_booked)
        return "delayed"

    provider = choose_provider()
    with session_scope(url) as session:
        bundle = claim_bundle(session, notification_id, ops.name, destination, utcnow())
        if not bundle:
            # Not claimable: taken by another send, or its alert was closed.
            move(
                session,
                notification_id,
                S.CANCELLED,
                reason="alert no longer triggered",
                from_state=S.PENDING,
            )
            ops.counter.labels(result="skipped").inc()
            return "skipped"
        attempts = bundle[0].send_attempts
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(provider=provider.name)
        )
        spacing = ops.spacing(bundle[0])
        perform = ops.prepare(session, bundle)
        alert_count = len({n.alert_id for n in bundle})
    if alert_count > 1:
        BUNDLES_SENT.labels(channel=ops.name).inc()
        BUNDLED_ALERTS.labels(channel=ops.name).inc(alert_count)

    try:
        hold_send_spacing(spacing)
    except redis.RedisError as exc:
        # The slot was booked at the gate; the final spacing is a refinement, and
        # a page claimed for sending must not be stranded by a Redis hiccup.
        log.warning("send spacing skipped, Redis unavailable: %s", exc)
    # No wait of any kind below this line: the check must stay next to the request.
    stopped = _stop_if_closed(url, notification_id)
    if stopped is not None:
        release_bundle_window(ops.name, destination)
        ops.counter.labels(result="skipped").inc()
        log.info(
            "%s for notification %s to %s not sent: %s; its booked rate-limit slot goes unused",
            ops.name,
            notification_id,
            mask(destination),
            stopped,
        )
        return "cancelled"
    try:
        delivery = perform(provider.client)
    except PlivoError as exc:
        report(provider, exc)
        release_bundle_window(ops.name, destination)
        return record_send_failure(
            database_url=url,
            notification_id=notification_id,
            destination=destination,
            attempts=attempts,
            exc=exc,
            counter=ops.counter,
            account_limit=ops.account_limit(),
            requeue=lambda nid, delay: ops.requeue(nid, delay, False),
        )
    report(provider, None)
    with session_scope(url) as session:
        if delivery.provider_uuid is None:
            move(
                session,
                notification_id,
                S.FAILED,
                reason="plivo refused the destination",
                error_message="invalid_number",
            )
            move_members(session, notification_id, S.FAILED, reason="bundle refused")
            result = "failed"
        else:
            if not move(
                session,
                notification_id,
                S.QUEUED,
                reason="plivo accepted",
                detail=delivery.detail,
                provider_uuid=delivery.provider_uuid,
            ):
                log.info("notification %s already advanced by a report", notification_id)
            move_members(session, notification_id, S.QUEUED, reason="bundle accepted by plivo")
            result = "accepted"
    ops.counter.labels(result=result).inc()
    if result == "failed":
        enqueue.notification_ended(notification_id)
    log.info(
        "%s for notification %s to %s: %s (%d alerts)",
        ops.name,
        notification_id,
        mask(destination),
        result,
        alert_count,
    )
    return result


def _stop_if_closed(url: str, lead_id: int) -> str | None:
    """None when the claimed send may go; else why not, with the lead and its
    bundle moved to CANCELLED (only while still claimed: a row a lost-worker
    sweep took over is left to it).

    One query for the lead's state and the status of every alert the bundle
    pages for, so the read sits as close to the request as it can.
    """
    with session_scope(url) as session:
        rows = session.execute(
            select(Notification.id, Notification.state, Alert.status)
            .join(Alert, Alert.id == Notification.alert_id)
            .where(
                or_(
                    Notification.id == lead_id,
                    and_(
                        Notification.bundle_lead_id == lead_id,
                        Notification.state == S.SENDING.value,
                    ),
                )
            )
        ).all()
        state = next((row.state for row in rows if row.id == lead_id), None)
        statuses = [row.status for row in rows]
        if may_still_send(state, statuses):
            return None
        reason = stop_reason(state, statuses)
        if move(session, lead_id, S.CANCELLED, reason=reason, from_state=S.SENDING):
            move_members(session, lead_id, S.CANCELLED, reason=reason, from_state=S.SENDING)
        return reason


def alerts_of(session: Session, bundle: Sequence[Notification]) -> list[Alert]:
    """The distinct alerts a bundle pages for, in claim order."""
    ids = list(dict.fromkeys(n.alert_id for n in bundle))
    return [a for a in (session.get(Alert, i) for i in ids) if a is not None]
