"""The moment before a claimed send's request: the last check that it may still go,
and the claim undone when its release lies too far ahead. Both move the claimed
rows only while still claimed: a row a lost-worker sweep took over is left to it."""

from __future__ import annotations

from sqlalchemy import and_, or_, select

from shared.core.db import read_scope, session_scope
from shared.core.models import Alert, Notification, utcnow
from shared.notifications.guard import may_still_send, stop_reason
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move, move_bundle, release_members


def stop_if_closed(url: str, lead_id: int) -> str | None:
    """None when the claimed send may go; else why not, with the lead and its
    bundle moved to CANCELLED (only while still claimed: a row a lost-worker
    sweep took over is left to it).

    One query for the lead's state and the status of every alert the bundle
    pages for, so the read sits as close to the request as it can.
    """
    with read_scope(url) as session:
        rows = session.execute(
            select(Notification.id, Notification.state, Alert.status)
            .join(Alert, Alert.id == Notification.alert_id)
            .where(
                or_(
                    Notification.id == lead_id,
                    and_(
                        Notification.bundle_lead_id == lead_id,
                        Notification.state == S.SENDING,
                    ),
                )
            )
        ).all()
    state = next((row.state for row in rows if row.id == lead_id), None)
    statuses = [row.status for row in rows]
    if may_still_send(state, statuses):
        return None
    reason = stop_reason(state, statuses)
    with session_scope(url) as session:
        move_bundle(
            session, lead_id, S.CANCELLED, reason=reason, member_reason=reason, from_state=S.SENDING
        )
    return reason


def hand_back(url: str, lead_id: int) -> bool:
    """Undo a claim whose request never left: the lead pending again with its attempt
    not counted (a retry's budget and a person's count stay as they were), its bundle
    free to go on its own; False when the claim was no longer ours."""
    with session_scope(url) as session:
        handed_back = move(
            session,
            lead_id,
            S.PENDING,
            reason="handed back: its release lay beyond the spacing wait",
            from_state=S.SENDING,
            send_attempts=Notification.send_attempts - 1,
            enqueued_at=utcnow(),
        )
        if handed_back:
            release_members(session, lead_id)
    return handed_back
