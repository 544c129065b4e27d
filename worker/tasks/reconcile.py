"""Settle a send whose outcome is unknown before anything is sent again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.enums import Channel
from shared.core.metrics import RECONCILED
from shared.core.models import Event, Notification, utcnow
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move, move_bundle, release_members
from shared.plivo.errors import PlivoError
from shared.sending.reconcile import Found, find_sent, older_than
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending.gate import release_bundle_window
from worker.sending.lookup_budget import LookupBudgetSpent, paced
from worker.sending.providers import Provider, provider_named

log = logging.getLogger(__name__)

# Plivo's clock and ours may disagree a little (and it writes whole seconds).
CLOCK_MARGIN = timedelta(seconds=10)
# Up to 2,000 records back; a search that cannot reach the attempt's time is
# inconclusive and is tried again later: a page is never resent on a guess.
MAX_PAGES = 100
PAGE_SIZE = 20
RETRY_S = 30.0


@dataclass(frozen=True)
class Unknown:
    """A send of unknown outcome, as read from the database: what to look for at Plivo."""

    destination: str
    channel: str
    since: datetime
    taken: set[str]  # Plivo uuids other notifications to this number already own
    provider: Provider


@app.task(name=task_names.RECONCILE)
def reconcile(notification_id: int) -> str:
    """Look the send up at Plivo: adopt what it has, or resend what it never got.

    A status callback (it carries our id) usually settles an unknown send
    first; this runs when none came. If Plivo cannot be asked, try later:
    a page is never resent on a guess.
    """
    unknown = _load(notification_id)
    if unknown is None:
        return "settled"
    try:
        found, complete = _search(unknown)
    except LookupBudgetSpent as exc:  # the sends keep the rest of the API limit
        enqueue.reconcile(notification_id, countdown=exc.retry_after_s)
        return "retry"
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
    result, moved = _settle(notification_id, found)
    RECONCILED.labels(result=result).inc()
    log.warning("notification %s reconciled: %s", notification_id, result)
    if result == "resend" and moved:
        # Nobody was paged: the resend must not wait out the bundle window the
        # lost attempt opened for this person.
        release_bundle_window(unknown.channel, unknown.destination)
        enqueue.send_notification(notification_id, unknown.channel)
    return result


def _load(notification_id: int) -> Unknown | None:
    """The send to look up; None when it is no longer unknown (settled meanwhile)."""
    with session_scope(context.database_url()) as session:
        notification = session.get(Notification, notification_id)
        if notification is None or notification.state != S.UNKNOWN:
            return None
        destination = notification.destination
        taken = set(
            session.scalars(
                select(Notification.provider_uuid).where(
                    Notification.destination == destination,
                    Notification.provider_uuid.is_not(None),
                )
            )
        )
        return Unknown(
            destination=destination,
            channel=notification.channel,
            since=attempt_started(session, notification) - CLOCK_MARGIN,
            taken=taken,
            provider=provider_named(notification.provider),
        )


def _search(unknown: Unknown) -> tuple[Found | None, bool]:
    """Page back through Plivo's records: what it has for the attempt, and whether the
    search reached back to before the attempt (else it is inconclusive)."""
    client = unknown.provider.client
    lister: Callable[..., list[dict[str, Any]]]
    if unknown.channel == Channel.SMS:
        uuid_field, time_field, lister = "message_uuid", "message_time", client.list_messages
    else:
        uuid_field, time_field, lister = "call_uuid", "initiation_time", client.list_calls
    lister = paced(client, lister)
    for page in range(MAX_PAGES):
        records = lister(limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        found = find_sent(
            records,
            destination=unknown.destination,
            since=unknown.since,
            uuid_field=uuid_field,
            time_field=time_field,
            taken=unknown.taken,
        )
        if found or len(records) < PAGE_SIZE or older_than(records, unknown.since, time_field):
            return found, True
    return None, False


def _settle(notification_id: int, found: Found | None) -> tuple[str, bool]:
    """Adopt what Plivo has, or put the send back to pending: (result, whether it moved)."""
    with session_scope(context.database_url()) as session:
        if found is not None:
            adopted = move_bundle(
                session,
                notification_id,
                found.state,
                reason="reconciled: Plivo has it",
                member_reason="bundle reconciled",
                detail={"provider_uuid": found.provider_uuid},
                provider_uuid=found.provider_uuid,
            )
            return "found", adopted.lead_moved
        moved = move(
            session,
            notification_id,
            S.PENDING,
            reason="reconciled: never reached Plivo",
            enqueued_at=utcnow(),
        )
        if moved:
            release_members(session, notification_id)
        return "resend", moved


def attempt_started(session: Session, notification: Notification) -> datetime:
    """When the last send attempt began: its "sending" entry in the event log."""
    started = session.scalar(
        select(func.max(Event.at)).where(
            Event.notification_id == notification.id, Event.kind == "notification.sending"
        )
    )
    return started or notification.state_changed_at
