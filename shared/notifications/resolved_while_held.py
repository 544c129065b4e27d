"""Alerts resolved while a person's page was held: named once in their next text.

A person paged moments ago waits out the bundle window, and an alert resolved
during that wait has its pending notification cancelled with the resolution
(shared.alerts.lifecycle). Without this the person would never learn it
existed. The next text that leaves for them anyway names it ("Resolved before
you were paged: ..."); a resolved alert alone never causes a message.

Which alerts: an SMS notification to this number cancelled at or after its
alert was resolved (so not one stopped earlier by an acknowledgement), that
never reached Plivo, for an alert no request of any channel ever reached this
number about, resolved in the last LOOKBACK. Each is named once per number:
`Notification.resolved_noted_in_id` points at the message that named it, and
the claim is a compare-and-set on it in the claiming transaction. A mark
counts only while that message may still leave or has left: when it was
cancelled or refused before the request, the alert is free to be named again.

Texts only: a call says the open alerts only (worker.sending.voice), and an
alert whose held call was cancelled is not named in a later text either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.orm import Session, aliased

from shared.core.enums import AlertStatus, Channel
from shared.core.models import Alert, Notification
from shared.notifications.resolved_text import with_resolved_line
from shared.notifications.state import NotificationState as S

# Older than this is history, not news; it also keeps the read on the
# (state, state_changed_at) index.
LOOKBACK = timedelta(hours=24)


@dataclass(frozen=True)
class HeldRow:
    """One cancelled text and what its alert and its mark say."""

    notification_id: int
    alert_id: int
    cancelled_at: datetime
    resolved_at: datetime | None
    noted_in: int | None  # the message that named it, if any
    noted_in_state: str | None
    noted_in_uuid: str | None


def never_left(state: str | None, provider_uuid: str | None) -> bool:
    """The marking message was stopped or refused before any request reached Plivo."""
    return state == S.CANCELLED or (state == S.FAILED and provider_uuid is None)


def rows_to_name(
    rows: Iterable[HeldRow], lead_id: int, paged_alert_ids: set[int]
) -> dict[int, list[HeldRow]]:
    """Pure: the alerts the message led by `lead_id` names, each with its rows to mark.

    A row counts when it was cancelled by the resolution; an alert is left out
    when this number was paged about it, or another message that left (or may
    still leave) named it.
    """
    chosen: dict[int, list[HeldRow]] = {}
    told_elsewhere: set[int] = set()
    for row in rows:
        if row.noted_in not in (None, lead_id) and not never_left(
            row.noted_in_state, row.noted_in_uuid
        ):
            told_elsewhere.add(row.alert_id)
        if row.resolved_at is not None and row.cancelled_at >= row.resolved_at:
            chosen.setdefault(row.alert_id, []).append(row)
    return {
        alert_id: held
        for alert_id, held in chosen.items()
        if alert_id not in told_elsewhere and alert_id not in paged_alert_ids
    }


@dataclass(frozen=True)
class HeldResolved:
    """What one message claimed to name: the alerts, and each marked row's mark before."""

    lead_id: int
    alerts: list[Alert]
    previous: dict[int, int | None]


def _held_rows_statement() -> Select[Any]:
    """Built once: the statement is the same for every send, only its parameters change,
    and building it (with its alias) on each first page cost more than running it."""
    noted = aliased(Notification)
    return (
        select(
            Notification.id,
            Notification.alert_id,
            Notification.state_changed_at,
            Alert.resolved_at,
            Notification.resolved_noted_in_id,
            noted.state,
            noted.provider_uuid,
        )
        .join(Alert, Alert.id == Notification.alert_id)
        .outerjoin(noted, noted.id == Notification.resolved_noted_in_id)
        .where(
            Notification.state == S.CANCELLED.value,
            Notification.state_changed_at >= bindparam("since"),
            Notification.destination == bindparam("destination"),
            Notification.channel == Channel.SMS.value,
            Notification.provider_uuid.is_(None),
            Alert.status == AlertStatus.RESOLVED.value,
        )
        .order_by(Notification.id)
    )


_HELD_ROWS = _held_rows_statement()


def _held_rows(session: Session, destination: str, now: datetime) -> list[HeldRow]:
    found = session.execute(_HELD_ROWS, {"since": now - LOOKBACK, "destination": destination})
    return [HeldRow(*row) for row in found.all()]


def _paged_alert_ids(session: Session, destination: str, alert_ids: set[int]) -> set[int]:
    """Those of `alert_ids` a request (text or call) was made to this number about."""
    if not alert_ids:
        return set()
    return set(
        session.scalars(
            select(Notification.alert_id)
            .where(
                Notification.alert_id.in_(alert_ids),
                Notification.destination == destination,
                Notification.state != S.CANCELLED.value,
            )
            .distinct()
        )
    )


def _mark(session: Session, row: HeldRow, lead_id: int) -> bool:
    """Compare-and-set the row's mark from what was read to `lead_id`."""
    seen = Notification.resolved_noted_in_id
    unchanged = seen.is_(None) if row.noted_in is None else seen == row.noted_in
    result = session.execute(
        update(Notification)
        .where(Notification.id == row.notification_id, unchanged)
        .values(resolved_noted_in_id=lead_id)
    )
    return result.rowcount == 1


def claim_resolved_while_held(
    session: Session, lead_id: int, destination: str, now: datetime
) -> HeldResolved:
    """Mark, for the text led by `lead_id`, the alerts it is to name; in the
    claiming transaction, so two messages to one number cannot both name one."""
    rows = _held_rows(session, destination, now)
    paged = _paged_alert_ids(session, destination, {row.alert_id for row in rows})
    previous: dict[int, int | None] = {}
    alerts: list[Alert] = []
    for alert_id, held in rows_to_name(rows, lead_id, paged).items():
        marked = [row for row in held if _mark(session, row, lead_id)]
        previous.update((row.notification_id, row.noted_in) for row in marked)
        alert = session.get(Alert, alert_id) if marked else None
        if alert is not None:
            alerts.append(alert)
    return HeldResolved(lead_id, alerts, previous)


def name_resolved_while_held(session: Session, held: HeldResolved, text: str) -> str:
    """The message with its resolved line; when not even the shortest line fits,
    the message unchanged and the marks given back, so a later text names them."""
    if not held.alerts:
        return text
    named = with_resolved_line(text, held.alerts)
    if named is not None:
        return named
    for notification_id, before in held.previous.items():
        session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id,
                Notification.resolved_noted_in_id == held.lead_id,
            )
            .values(resolved_noted_in_id=before)
        )
    return text
