"""Planning notifications: pending rows inserted once per alert, step, round, channel
and number, however many times their routing runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shared.core.events import event_row, record_or_defer
from shared.core.models import utcnow
from shared.core.row_writes import set_params
from shared.notifications import statements
from shared.notifications.state import NotificationState


def plan_notification(
    session: Session,
    *,
    alert_id: int,
    channel: str,
    destination: str,
    text: str,
    step: int = 0,
    round: int = 0,
    attempt: int = 0,
    contact: str | None = None,
    due_at: datetime | None = None,
    enqueued_at: datetime | None = None,
    events: list[dict[str, Any]] | None = None,
) -> int | None:
    """Insert a pending notification: its id, or None when that exact one was planned before.

    `plan_notifications` for one row: see there.
    """
    row = PageRow(
        alert_id=alert_id,
        channel=channel,
        destination=destination,
        text=text,
        step=step,
        round=round,
        attempt=attempt,
        contact=contact,
        due_at=due_at or utcnow(),
        enqueued_at=enqueued_at,
    )
    return plan_notifications(session, [row], events)[0]


@dataclass(frozen=True)
class PageRow:
    """A notification to plan: its row's values."""

    alert_id: int
    channel: str
    destination: str
    text: str
    step: int
    round: int
    due_at: datetime
    attempt: int = 0
    contact: str | None = None
    enqueued_at: datetime | None = None

    @property
    def key(self) -> tuple[int, int, int, str, str]:
        """The unique key: one page per alert, step, round, channel and number."""
        return (self.alert_id, self.step, self.round, self.channel, self.destination)


def plan_notifications(
    session: Session, rows: Sequence[PageRow], events: list[dict[str, Any]] | None = None
) -> list[int | None]:
    """Insert pending notifications in one statement: each row's id, in the order given,
    or None where that exact one was planned before (or earlier in `rows`).

    Their `notification.planned` events are recorded at once, or added to `events`
    for the caller to write with the others of its step (shared.core.events.record_events).

    The unique (alert, step, round, channel, destination) key is what keeps a
    routing task that runs twice from paging anyone twice: one INSERT ... ON
    CONFLICT DO NOTHING RETURNING the rows it inserted, matched back by that key,
    where a savepoint, a flush and a release took three round trips a page. The
    pages of an Alertmanager group of 100 alerts took 100 INSERTs inside the
    routing's transaction (on SQLite, inside the write lock every receiver waits
    for). Ids, not objects: loading the rows into the session cost five times the
    INSERT, for callers that only pass the ids on.
    """
    if not rows:
        return []
    state = NotificationState.PENDING.value
    params = [set_params({**vars(row), "state": state}) for row in rows]
    planned = statements.plan(session.get_bind().dialect.name)
    result = session.execute(planned, params[0] if len(params) == 1 else params)
    inserted = {tuple(found[1:]): found[0] for found in result}
    ids: list[int | None] = []
    planned_events: list[dict[str, Any]] = []
    for row in rows:
        notification_id = inserted.pop(row.key, None)  # a key twice: the second is None
        ids.append(notification_id)
        if notification_id is not None:
            detail = {"channel": row.channel, "step": row.step, "round": row.round}
            detail |= {"attempt": row.attempt, "contact": row.contact}
            planned_events.append(
                event_row("notification.planned", row.alert_id, notification_id, detail)
            )
    record_or_defer(session, planned_events, events)
    return ids
