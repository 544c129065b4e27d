"""Hand over the sends whose wait is over or whose worker was lost (beat, every second),
ahead of any backlog.

A send that waits longer than a few seconds (for a rate-limit slot, a retry's
backoff, a bundle window) waits in the database (worker.sending.come_back);
this task hands it over just before it is due, with a countdown to its slot,
and hands over again a send the broker lost (worker.sending.handover). A send
whose worker died mid-request becomes unknown and is looked up at Plivo
(notify.reconcile), sent again only if Plivo never took it; one whose record
(Plivo accepted it) still waits in the report inbox is not lost, and is left
to the inbox's drainer. That drainer is started here too when reports wait and
nobody holds the inbox (its start lost, or its drainer dead).

It runs on the notify queue at the first priority, apart from the tick. As a
part of the tick (on the ingest queue, behind every alert waiting to be
routed) it waited out a storm's routing backlog, and a send kept for its
booked slot went out as late as the backlog was long: 33 s behind 25,000
queued routings. What the tick also sweeps, alerts never routed, must not run
during such a backlog, which would publish every alert still queued again.

Most seconds nothing is due: the due sends are first looked for in a read,
which on SQLite takes no write lock, so this adds no write transaction a
second for the receiver's commits to queue behind.
"""

from __future__ import annotations

import redis
from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from shared.core.db import read_scope, session_scope
from shared.core.models import Alert, Notification, utcnow
from shared.notifications import report_inbox
from shared.notifications.state import NotificationState
from shared.notifications.store import move
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending import liveness
from worker.sending.handover import Cutoffs, DueSend, cutoffs_for, due_sends
from worker.tasks.apply_delivery_reports import start_if_waiting


@app.task(name=task_names.HAND_OVER_SENDS)
def hand_over_sends() -> dict[str, int]:
    """Enqueue every send due now or within the handover lead, and a look-up of every
    send lost mid-request; how many of each."""
    limits = cutoffs_for(context.settings(), utcnow())
    url = context.database_url()
    # Before anything else: what the worker's own sends left in the report inbox moves
    # them out of "sending", so a drainer must not wait for the tick behind a backlog.
    start_if_waiting()
    with read_scope(url) as session:
        if not _anything_to_do(session, limits):
            return {"notifications": 0, "reconcile": 0}
    with session_scope(url) as session:
        due = claim_due_sends(session, limits)
        unsettled = settle_stuck_sends(session, limits)
    for send in due:
        enqueue.send_notification(
            send.notification_id,
            send.channel,
            send.priority,
            countdown=send.countdown_s or None,
            slot_booked=send.slot_booked,
        )
    for notification_id in unsettled:
        enqueue.reconcile(notification_id)
    return {"notifications": len(due), "reconcile": len(unsettled)}


def _anything_to_do(session: Session, limits: Cutoffs) -> bool:
    """Whether a send is due, or one is mid-request or unknown (whose worker may be
    lost): otherwise there is nothing to write."""
    if session.execute(_due_rows(limits).limit(1)).first() is not None:
        return True
    in_doubt = select(Notification.id).where(
        Notification.state.in_([NotificationState.SENDING, NotificationState.UNKNOWN])
    )
    return session.execute(in_doubt.limit(1)).first() is not None


def claim_due_sends(session: Session, limits: Cutoffs) -> list[DueSend]:
    """Pending notifications due now or within the handover lead that were never
    handed over, or were lost with the broker; marked handed over now, so the next
    run leaves them be. The slot a send was booked is handed over with it, once:
    a send lost after that books again."""
    due = due_sends(session.execute(_due_rows(limits)).all(), limits.now)
    if due:
        session.execute(
            update(Notification)
            .where(Notification.id.in_([send.notification_id for send in due]))
            .values(enqueued_at=limits.now, slot_booked=False)
        )
    return due


def _due_rows(limits: Cutoffs) -> Select[tuple[object, ...]]:
    """The sends to hand over, as `due_sends` reads them."""
    return (
        select(
            Notification.id,
            Notification.channel,
            Alert.severity,
            Notification.round,
            Notification.attempt,
            Notification.due_at,
            Notification.slot_booked,
        )
        .join(Alert, Alert.id == Notification.alert_id)
        .where(
            Notification.state == NotificationState.PENDING,
            Notification.due_at <= limits.hand_over_before,
            or_(
                Notification.enqueued_at.is_(None),
                Notification.enqueued_at < limits.lost_before,
            ),
        )
    )


def settle_stuck_sends(session: Session, limits: Cutoffs) -> list[int]:
    """Sends whose worker died mid-request become unknown; unknown ones get a
    reconcile at most once a minute until settled. The ids to reconcile.

    A worker's death is seen as soon as its liveness key lapses
    (worker.sending.liveness); a send that names no claimer, or whose claimer
    cannot be asked about, waits out the longest request instead."""
    sending = session.execute(
        select(Notification.id, Notification.claimed_by, Notification.state_changed_at).where(
            Notification.state == NotificationState.SENDING
        )
    ).all()
    # Only a claim younger than the long window needs its claimer asked about.
    to_ask = {by for _, by, since in sending if by is not None and since >= limits.stuck_before}
    dead = (
        liveness.dead_claimers(context.redis_client(), to_ask, limits.now.timestamp())
        if to_ask
        else set()
    )
    stuck = [nid for nid, by, since in sending if since < limits.stuck_before or by in dead]
    if stuck:
        # Sent, with the record of it still waiting in the report inbox: not lost.
        waiting = _named_in_inbox()
        stuck = [nid for nid in stuck if nid not in waiting]
    for notification_id in stuck:
        move(
            session,
            notification_id,
            NotificationState.UNKNOWN,
            reason="worker lost during the request",
            enqueued_at=limits.now,
        )
    unknown = session.scalars(
        select(Notification.id).where(
            Notification.state == NotificationState.UNKNOWN,
            Notification.state_changed_at < limits.reconcile_before,
            or_(
                Notification.enqueued_at.is_(None),
                Notification.enqueued_at < limits.reconcile_before,
            ),
        )
    ).all()
    if unknown:
        session.execute(
            update(Notification).where(Notification.id.in_(unknown)).values(enqueued_at=limits.now)
        )
    return [*stuck, *unknown]


def _named_in_inbox() -> set[int]:
    """The notifications the report inbox holds an unapplied entry for (none when Redis
    cannot be read: the sends are judged as before).

    A worker leaves the record of a send Plivo accepted in the inbox, and the row
    stays "sending" until a drainer applies it. When that worker then dies, its
    claims look lost. Made unknown, each is looked up at Plivo: after a crash
    during a backlog of reports that was hundreds of look-ups at once, and
    Plivo's 429 for the API requests over its limit slowed every page behind them
    (seen in the chaos drill: pages a minute late)."""
    try:
        return report_inbox.named_notifications(context.redis_client())
    except redis.RedisError:
        return set()
