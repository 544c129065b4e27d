"""A send's claim of its page and of the person's other due pages on the channel: one
message or call then carries them all (shared.notifications.bundling words it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.enums import AlertStatus
from shared.core.models import Notification
from shared.notifications import statements
from shared.notifications.state import NotificationState
from shared.notifications.store import move, move_many

MAX_BUNDLE = 500  # one message can stand for a whole storm; the text lists the worst


def claim_bundle(
    session: Session,
    lead_id: int,
    channel: str,
    destination: str,
    now: datetime,
    events: list[dict[str, Any]] | None = None,
    claimed_by: str | None = None,
    **lead_fields: Any,
) -> list[Notification]:
    """Claim the lead and every other due, pending notification for the same person
    and channel: one message or call then carries them all (their events into
    `events` when given, as `move` does).

    Each is claimed with the same compare-and-set as a single send, so a
    notification is in exactly one bundle, and a send task that later finds
    its own notification taken by a bundle simply does nothing. `lead_fields`
    are set on the lead by its claim (the provider it goes through); `claimed_by`
    on the lead and its members: the sending process (worker.sending.liveness).
    """
    if not move(
        session,
        lead_id,
        NotificationState.SENDING,
        reason="send attempt",
        detail={"channel": channel},
        only_while_alert_triggered=True,
        events=events,
        claimed_by=claimed_by,
        **lead_fields,
    ):
        return []
    lead = session.get(Notification, lead_id)
    if lead is None:
        # Claimed just above in this transaction: gone means the row was deleted
        # under us, and there is nothing to send.
        return []
    bundled: dict[str, Any] = {
        "reason": f"bundled with {lead_id}",
        "only_while_alert_triggered": True,
        "bundle_lead_id": lead_id,
        "events": events,
        "claimed_by": claimed_by,
    }
    candidates = _bundle_candidates(session, lead_id, channel, destination, now)
    members = move_many(session, candidates, NotificationState.SENDING, **bundled)
    return [lead, *_loaded(session, members)]


def _loaded(session: Session, notification_ids: Sequence[int]) -> list[Notification]:
    """The notifications, in the order given: those the session holds as they are (every
    move synchronised its copy: shared.core.row_writes.sync_loaded), the rest in one
    SELECT, where one `session.get` each read them one by one."""
    missing = [
        n
        for n in notification_ids
        if session.identity_map.get(session.identity_key(Notification, n)) is None
    ]
    if missing:
        session.scalars(select(Notification).where(Notification.id.in_(missing))).all()
    found = (session.get(Notification, n) for n in notification_ids)
    return [n for n in found if n is not None]


def _bundle_candidates(
    session: Session, lead_id: int, channel: str, destination: str, now: datetime
) -> list[int]:
    """The due, pending notifications a claim of `lead_id` takes along, oldest first."""
    return list(
        session.scalars(
            statements.BUNDLE_CANDIDATES,
            {
                "destination": destination,
                "channel": channel,
                "pending": NotificationState.PENDING.value,
                "now": now,
                "lead_id": lead_id,
                "triggered": AlertStatus.TRIGGERED,
                "room": MAX_BUNDLE - 1,
            },
        ).all()
    )
