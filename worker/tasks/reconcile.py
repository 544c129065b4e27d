"""Settle a send whose outcome is unknown before anything is sent again."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select

from shared.core.db import session_scope
from shared.core.metrics import RECONCILED
from shared.core.models import Event, Notification, utcnow
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move, move_members, release_members
from shared.plivo.errors import PlivoError
from shared.sending.reconcile import find_sent, older_than
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.providers import provider_named

log = logging.getLogger(__name__)

# Plivo's clock and ours may disagree a little (and it writes whole seconds).
CLOCK_MARGIN = timedelta(seconds=10)
# Up to 2,000 records back; a search that cannot reach the attempt's time is
# inconclusive and is tried again later: a page is never resent on a guess.
MAX_PAGES = 100
RETRY_S = 30.0


@app.task(name=task_names.RECONCILE)
def reconcile(notification_id: int) -> str:
    """Look the send up at Plivo: adopt what it has, or resend what it never got.

    A status callback (it carries our id) usually settles an unknown send
    first; this runs when none came. If Plivo cannot be asked, try later:
    a page is never resent on a guess.
    """
    with session_scope(context.database_url()) as session:
        notification = session.get(Notification, notification_id)
        if notification is None or notification.state != S.UNKNOWN.value:
            return "settled"
        destination, channel = notification.destination, notification.channel
        since = attempt_started(session, notification) - CLOCK_MARGIN
        taken = set(
            session.scalars(
                select(Notification.provider_uuid).where(
                    Notification.destination == destination,
                    Notification.provider_uuid.is_not(None),
                )
            )
        )
        provider = provider_named(notification.provider)
    uuid_field, time_field = (
        ("message_uuid", "message_time") if channel == "sms" else ("call_uuid", "initiation_time")
    )
    lister = provider.client.list_messages if channel == "sms" else provider.client.list_calls
    found = None
    complete = False  # the search reached back to before the attempt
    try:
        for page in range(MAX_PAGES):
            records = lister(limit=20, offset=page * 20)
            found = find_sent(
                records,
                destination=destination,
                since=since,
                uuid_field=uuid_field,
                time_field=time_field,
                taken=taken,
            )
            if found or len(records) < 20 or older_than(records, since, time_field):
                complete = True
                break
    except PlivoError as exc:
        log.warning("cannot reconcile notification %s now (%s); trying again", notification_id, exc)
        enqueue.reconcile(notification_id, countdown=RETRY_S)
        return "retry"
    if found is None and not complete:
        log.warning(
            "reconcile of notification %s inconclusive (more than %d pages of sends "
            "since the attempt); trying again",
            notification_id,
            MAX_PAGES,
        )
        enqueue.reconcile(notification_id, countdown=RETRY_S)
        return "inconclusive"
    with session_scope(context.database_url()) as session:
        if found is not None:
            moved = move(
                session,
                notification_id,
                found.state,
                reason="reconciled: Plivo has it",
                detail={"provider_uuid": found.provider_uuid},
                provider_uuid=found.provider_uuid,
            )
            if moved:
                move_members(session, notification_id, found.state, reason="bundle reconciled")
            result = "found"
        else:
            moved = move(
                session,
                notification_id,
                S.PENDING,
                reason="reconciled: never reached Plivo",
                enqueued_at=utcnow(),
            )
            if moved:
                release_members(session, notification_id)
            result = "resend"
    RECONCILED.labels(result=result).inc()
    log.warning("notification %s reconciled: %s", notification_id, result)
    if result == "resend" and moved:
        enqueue.send_notification(notification_id, channel)
    return result


def attempt_started(session, notification: Notification):  # type: ignore[no-untyped-def]
    """When the last send attempt began: its "sending" entry in the event log."""
    started = session.scalar(
        select(func.max(Event.at)).where(
            Event.notification_id == notification.id, Event.kind == "notification.sending"
        )
    )
    return started or notification.state_changed_at
