"""Sending again later: in the broker for a short wait, in the database for a long one."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update

from shared.core.db import session_scope
from shared.core.models import Notification, utcnow
from shared.notifications.state import NotificationState as S
from worker.sending.handover import BROKER_HOLD_MAX_S

if TYPE_CHECKING:
    from worker.sending.flow import ChannelOps


def come_back(
    url: str, notification_id: int, ops: ChannelOps, delay_s: float, *, slot_booked: bool
) -> None:
    """Send again in `delay_s` (into a slot booked for then, or not): a short wait is a
    countdown in the broker, a longer one is kept in the database as the send's due
    time, and handed over then (worker.tasks.hand_over_sends)."""
    if delay_s <= BROKER_HOLD_MAX_S:
        ops.requeue(notification_id, delay_s, slot_booked)
        return
    due_at = utcnow() + timedelta(seconds=delay_s)
    with session_scope(url) as session:
        session.execute(
            update(Notification)
            .where(Notification.id == notification_id, Notification.state == S.PENDING)
            .values(due_at=due_at, enqueued_at=None, slot_booked=slot_booked)
        )
