"""The one path every page takes to Plivo, for SMS and calls alike.

1. Guard: only a pending, due notification of a triggered alert goes, and
   never to a number that opted out with STOP.
2. Hold: a person paged moments ago waits for the bundle window to close,
   and whatever else piles up for them meanwhile leaves as one message.
3. Gate: a slot is booked in the global rate limiter; a wait is taken by
   re-enqueueing with a countdown, never by holding the worker (a long wait
   is kept in the database, and the send is handed over at its slot).
4. Claim: the notification and the person's other due notifications on the
   channel, each by compare-and-set, committed before the request.
5. Deliver: the request's release is booked in the release log, so requests
   actually sent stay within the limit; a release further than a second away
   hands the send back, unsent. Before a release that is not immediate, one
   read that the claim is still ours and an alert it pages for is still
   triggered (an acknowledgement cancels only pending rows, not claimed ones),
   timed to end as the release comes (CHECK_LEAD_S). With no wait, the claim's
   own compare-and-set, committed a moment ago, was that read. An
   acknowledgement after it and before the request is the one window left:
   at most the rest of CHECK_LEAD_S and building the request lie between them.
6. Record the outcome on the lead and its bundle members.

Each phase returns what the next one needs, or the task's result when the
send stops there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from prometheus_client import Counter
from sqlalchemy.orm import Session

from shared.core.db import read_scope, session_scope
from shared.core.enums import Channel
from shared.core.metrics import BUNDLED_ALERTS, BUNDLES_SENT, OPTED_OUT_SKIPS, SENDS_DELAYED
from shared.core.models import Alert, Notification, utcnow
from shared.core.phone import mask
from shared.notifications import report_inbox
from shared.notifications.accepted_sends import AcceptedSend, accepted_entry, record_accepted
from shared.notifications.bundle_claim import claim_bundle
from shared.notifications.state import NotificationState as S
from shared.notifications.store import (
    move,
    move_bundle,
    with_opt_out,
)
from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoError
from shared.sending.limits import Checks
from shared.sending.rate_limiter import Limit
from worker import context, enqueue
from worker.sending import liveness
from worker.sending.before_request import hand_back, stop_if_closed
from worker.sending.come_back import come_back
from worker.sending.failures import record_send_failure
from worker.sending.gate import (
    CHECK_LEAD_S,
    bundle_hold,
    is_due,
    pass_gate,
    release_bundle_window,
    sleep_until,
    space_before_request,
)
from worker.sending.providers import Provider, choose_provider, report
from worker.sending.request_leaving import request_leaving

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """What Plivo answered: its uuid for the lead (None: the destination was refused)."""

    provider_uuid: str | None
    detail: dict[str, str]


@dataclass(frozen=True)
class ChannelOps:
    """What differs between SMS and calls; everything else is shared."""

    name: Channel
    counter: Counter
    account_limit: Callable[[], Limit]
    checks: Callable[[Notification], Checks]
    spacing: Callable[[Notification], Checks]  # checked again just before the request
    requeue: Callable[[int, float, bool], bool]  # (notification id, countdown, slot booked)
    # Builds the request from the claimed bundle (lead first) inside the claiming
    # transaction; returns a callable that performs it, with the chosen
    # account's client, outside any transaction.
    prepare: Callable[[Session, Sequence[Notification]], Callable[[PlivoClient], Delivery]]


@dataclass(frozen=True)
class Send:
    """One run of the send path for one notification: what every phase shares."""

    url: str
    notification_id: int
    ops: ChannelOps
    destination: str
    checks: Checks  # the rate limits booked at the gate
    opted_out: bool = False  # an SMS to a number that replied STOP: it must not go


@dataclass(frozen=True)
class Claimed:
    """A claimed bundle, ready to go: the account, the request, and what it stands for."""

    provider: Provider
    attempts: int
    spacing: Checks
    perform: Callable[[PlivoClient], Delivery]
    alert_count: int


def run_send(notification_id: int, slot_booked: bool, ops: ChannelOps) -> str:
    """The send path's phases in order; the first that stops the send gives the result."""
    send = _guard(context.database_url(), notification_id, ops)
    if isinstance(send, str):
        return send
    stopped = _hold(send, slot_booked) or _gate(send, slot_booked)
    if stopped is not None:
        return stopped
    claimed = _claim(send)
    if isinstance(claimed, str):
        return claimed
    return deliver_and_record(send, claimed)


def _guard(url: str, notification_id: int, ops: ChannelOps) -> Send | str:
    """Load the notification: it goes only while pending and due, and never to a
    number that opted out (cancelled, and its chain moves on).

    A read: on SQLite it takes no write lock, so a send does not queue behind
    every writer just to look; the claim re-checks the state by compare-and-set.
    """
    with read_scope(url) as session:
        send = load_send(session, url, notification_id, ops)
    if send == "skipped":
        ops.counter.labels(result="skipped").inc()
    if isinstance(send, str):
        return send
    if send.opted_out:
        return _skip_opted_out(url, notification_id, send.destination)
    return send


def load_send(session: Session, url: str, notification_id: int, ops: ChannelOps) -> Send | str:
    """The send of a pending, due notification; else "skipped" (gone, or no longer
    pending) or "not-due" (a scheduled re-send: handed over when due)."""
    notification, stopped = with_opt_out(session, notification_id)
    if notification is None or notification.state != S.PENDING:
        return "skipped"
    if not is_due(notification):
        return "not-due"
    checks = ops.checks(notification)
    # The number replied STOP: no page by SMS goes to it (calls still do).
    opted = stopped and ops.name == Channel.SMS
    return Send(url, notification_id, ops, notification.destination, checks, opted_out=opted)


def _skip_opted_out(url: str, notification_id: int, destination: str) -> str:
    """The number replied STOP: cancel the send (if still pending) and move the chain on."""
    with session_scope(url) as session:
        move(
            session,
            notification_id,
            S.CANCELLED,
            reason="number opted out with STOP",
            from_state=S.PENDING,
        )
    OPTED_OUT_SKIPS.inc()
    log.error(
        "notification %s not sent: on-call number %s opted out with STOP",
        notification_id,
        mask(destination),
    )
    enqueue.notification_ended(notification_id)
    return "opted-out"


def _hold(send: Send, slot_booked: bool) -> str | None:
    """Wait out the person's bundle window (not when coming back to a booked slot).

    A short wait is a countdown in the broker; a longer one is kept in the
    database as the notification's new due time, and handed over then
    (worker.tasks.hand_over_sends). A wait in the broker is lost with a dead
    worker until the lost-work sweep, and in a storm re-enqueueing every held
    send kept the workers busy.
    """
    if slot_booked:
        return None
    hold = bundle_hold(send.ops.name, send.destination, send.notification_id)
    if hold <= 0:
        return None
    come_back(send.url, send.notification_id, send.ops, hold, slot_booked=False)
    return "held-for-bundle"


def _gate(send: Send, slot_booked: bool) -> str | None:
    """Book the rate-limit slot, or come back when it is due."""
    gate = pass_gate(send.checks, slot_booked=slot_booked)
    if not gate.go:
        come_back(
            send.url, send.notification_id, send.ops, gate.delay_s, slot_booked=gate.slot_booked
        )
        return "delayed"
    return None


def _claim(send: Send) -> Claimed | str:
    """Claim the lead and its bundle, and build the request, in one transaction."""
    with session_scope(send.url) as session:
        return claim_in(session, send)


def claim_in(
    session: Session, send: Send, events: list[dict[str, Any]] | None = None
) -> Claimed | str:
    """Claim the lead and its bundle and build the request in the caller's transaction,
    which must commit (durably) before the request is made. `events`: where the
    claims' events go, for a caller that writes them with others (store.move)."""
    ops = send.ops
    provider = choose_provider()
    bundle = claim_bundle(
        session,
        send.notification_id,
        ops.name,
        send.destination,
        utcnow(),
        events,
        claimed_by=liveness.claimer_token(context.redis_client),
        provider=provider.name,
    )
    if not bundle:
        # Not claimable: taken by another send, or its alert was closed.
        move(
            session,
            send.notification_id,
            S.CANCELLED,
            reason="alert no longer triggered",
            from_state=S.PENDING,
        )
        ops.counter.labels(result="skipped").inc()
        return "skipped"
    return Claimed(
        provider=provider,
        attempts=bundle[0].send_attempts,
        spacing=ops.spacing(bundle[0]),
        perform=ops.prepare(session, bundle),
        alert_count=len({n.alert_id for n in bundle}),
    )


def deliver_and_record(send: Send, claimed: Claimed) -> str:
    """After the claim's commit: the request, then its outcome recorded."""
    if claimed.alert_count > 1:
        BUNDLES_SENT.labels(channel=send.ops.name).inc()
        BUNDLED_ALERTS.labels(channel=send.ops.name).inc(claimed.alert_count)
    delivery = _deliver(send, claimed)
    if isinstance(delivery, str):
        return delivery
    return _record(send, claimed, delivery)


def _deliver(send: Send, claimed: Claimed) -> Delivery | str:
    """Spacing, the last check, the request: Plivo's answer, or the task's result."""
    ops = send.ops
    spacing = space_before_request(claimed.spacing)
    if spacing.hand_back_after_s is not None:
        return _hand_back(send, spacing.hand_back_after_s)
    stopped = None
    if spacing.waited_s > 0:
        # The check ends as the release comes: the request leaves on time, and no
        # wait but the rest of CHECK_LEAD_S lies between the check and the request.
        sleep_until(spacing.release_at - CHECK_LEAD_S)
        stopped = stop_if_closed(send.url, send.notification_id)
        sleep_until(spacing.release_at)
    if stopped is not None:
        release_bundle_window(ops.name, send.destination)
        ops.counter.labels(result="skipped").inc()
        log.info(
            "%s for notification %s to %s not sent: %s; its booked rate-limit slot goes unused",
            ops.name,
            send.notification_id,
            mask(send.destination),
            stopped,
        )
        return "cancelled"
    request_leaving()
    try:
        delivery = claimed.perform(claimed.provider.client)
    except PlivoError as exc:
        report(claimed.provider, exc)
        release_bundle_window(ops.name, send.destination)
        return record_send_failure(
            database_url=send.url,
            notification_id=send.notification_id,
            destination=send.destination,
            attempts=claimed.attempts,
            exc=exc,
            counter=ops.counter,
            account_limit=ops.account_limit(),
            requeue=lambda nid, delay: come_back(send.url, nid, ops, delay, slot_booked=False),
        )
    report(claimed.provider, None)
    return delivery


def _hand_back(send: Send, after_s: float) -> str:
    """No release lay within the wait a claimed send may take: undone, and back when
    its release is near, past the gate whose slot it already spent."""
    SENDS_DELAYED.labels(limit="release").inc()
    if not hand_back(send.url, send.notification_id):
        return "skipped"
    come_back(send.url, send.notification_id, send.ops, after_s, slot_booked=True)
    return "delayed"


def _record(send: Send, claimed: Claimed, delivery: Delivery) -> str:
    """Plivo accepted the request or refused the destination: the bundle follows its lead.

    A text Plivo accepted is recorded by the report inbox's drainer in its batch
    (shared.notifications.accepted_sends says why); where Redis refuses the
    push, and for calls, it is recorded here.
    """
    accepted = (
        None
        if delivery.provider_uuid is None
        else AcceptedSend(send.notification_id, delivery.provider_uuid, delivery.detail, utcnow())
    )
    if accepted is not None and send.ops.name == Channel.SMS and _leave_to_inbox(accepted):
        return _recorded(send, claimed, "accepted")
    with session_scope(send.url) as session:
        if accepted is None:
            move_bundle(
                session,
                send.notification_id,
                S.FAILED,
                reason="plivo refused the destination",
                member_reason="bundle refused",
                members_follow_only_a_moved_lead=False,
                error_message="invalid_number",
            )
            result = "failed"
        else:
            record_accepted(session, accepted)
            result = "accepted"
    return _recorded(send, claimed, result)


def _leave_to_inbox(accepted: AcceptedSend) -> bool:
    """Push an accepted text's record to the report inbox; False to record it here."""
    try:
        pushed = report_inbox.push(context.redis_client(), accepted_entry(accepted))
    except redis.RedisError as exc:
        log.warning("accepted text recorded by its worker, the report inbox refused: %s", exc)
        return False
    if pushed.start_drainer:
        enqueue.apply_delivery_reports()  # or the tick's, while it waits
    return True


def _recorded(send: Send, claimed: Claimed, result: str) -> str:
    send.ops.counter.labels(result=result).inc()
    if result == "failed":
        enqueue.notification_ended(send.notification_id)
    log.info(
        "%s for notification %s to %s: %s (%d alerts)",
        send.ops.name,
        send.notification_id,
        mask(send.destination),
        result,
        claimed.alert_count,
    )
    return result


def alerts_of(session: Session, bundle: Sequence[Notification]) -> list[Alert]:
    """The distinct alerts a bundle pages for, in claim order."""
    ids = list(dict.fromkeys(n.alert_id for n in bundle))
    return [a for a in (session.get(Alert, i) for i in ids) if a is not None]
