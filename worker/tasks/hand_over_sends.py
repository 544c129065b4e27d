"""Hand over the sends whose wait is over (beat, every second), ahead of any backlog.

A send that waits longer than a few seconds (for a rate-limit slot, a retry's
backoff, a bundle window) waits in the database (worker.sending.come_back);
this task hands it over just before it is due, with a countdown to its slot,
and hands over again a send the broker lost (worker.sending.handover).

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

from sqlalchemy import Select, or_, select, update
from sqlalchemy.orm import Session

from shared.core.db import read_scope, session_scope
from shared.core.models import Alert, Notification, utcnow
from shared.notifications.state import NotificationState
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending.handover import Cutoffs, DueSend, cutoffs, due_sends


@app.task(name=task_names.HAND_OVER_SENDS)
def hand_over_sends() -> int:
    """Enqueue every send due now or within the handover lead; how many."""
    settings = context.settings()
    limits = cutoffs(
        utcnow(),
        settings.requeue_lost_after_s,
        settings.plivo_connect_timeout + settings.plivo_read_timeout,
    )
    url = context.database_url()
    with read_scope(url) as session:
        if session.execute(_due_rows(limits).limit(1)).first() is None:
            return 0
    with session_scope(url) as session:
        due = claim_due_sends(session, limits)
    for send in due:
        enqueue.send_notification(
            send.notification_id,
            send.channel,
            send.priority,
            countdown=send.countdown_s or None,
            slot_booked=send.slot_booked,
        )
    return len(due)


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
