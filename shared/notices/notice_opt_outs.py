"""Opt-outs of maintenance notices only, and what a number was last sent.

STOP to a notice lands in `notice_opt_outs`: no more notices on any channel,
while pages still go (STOP to a page is `opt_outs`, shared.notifications).
Which one a STOP answers is decided by shared.replies.notice_scope from the
times read here. Every send and every batch leaves out both kinds.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from shared.core.models import NoticeDelivery, NoticeOptOut, Notification, OptOut
from shared.notices.delivery_state import DeliveryState

# Deliveries whose request reached (or may have reached) Plivo: the person got a notice.
_SENT = (
    DeliveryState.CLAIMED.value,
    DeliveryState.HANDED_OFF.value,
    DeliveryState.DELIVERED.value,
    DeliveryState.FAILED.value,
)


def opted_out_of_notices(session: Session, numbers: Collection[str] | None = None) -> set[str]:
    """Numbers that get no notice: STOP to a notice, or to a page (of `numbers`, or all)."""
    found: set[str] = set()
    for column in (NoticeOptOut.destination, OptOut.destination):
        query = select(column)
        if numbers is not None:
            if not numbers:
                return set()
            query = query.where(column.in_(list(numbers)))
        found.update(session.scalars(query))
    return found


def opt_out_of_notices(session: Session, number: str, now: datetime) -> None:
    session.merge(NoticeOptOut(destination=number, opted_out_at=now))


def opt_in_to_notices(session: Session, number: str) -> None:
    session.execute(delete(NoticeOptOut).where(NoticeOptOut.destination == number))


def last_sent(session: Session, number: str) -> tuple[datetime | None, datetime | None]:
    """When `number` was last paged (a request tried) and last sent a notice."""
    paged = session.scalar(
        select(func.max(Notification.due_at)).where(
            Notification.destination == number, Notification.send_attempts > 0
        )
    )
    noticed = session.scalar(
        select(func.max(NoticeDelivery.claimed_at)).where(
            NoticeDelivery.number == number, NoticeDelivery.state.in_(_SENT)
        )
    )
    return _aware(paged), _aware(noticed)


def _aware(value: datetime | None) -> datetime | None:
    """Aggregates are typed as their column, which makes them aware; kept aware anyway."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value
