"""A PHLO run's or a webhook post's records in the event log, and moving the chain on.

Every record is an event of the alert (the timeline, the API and the CLI show
them); the outcome of a run or post carries a dedup key (shared.steps.phlo_step,
shared.steps.webhook_step), so a task delivered twice finds it done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.enums import Channel
from shared.core.events import record_event
from shared.core.models import Event, Notification
from shared.escalation.engine import escalate_now, live_in_step
from shared.escalation.plan import Position
from shared.routing.oncall_config import Policy

PHLO_CLAIMED = "escalation.phlo_claimed"
PHLO_RUN = "escalation.phlo_run"
PHLO_RETRY = "escalation.phlo_retry"
PHLO_FAILED = "escalation.phlo_failed"
WEBHOOK_POSTED = "escalation.webhook_posted"
WEBHOOK_RETRY = "escalation.webhook_retry"
WEBHOOK_FAILED = "escalation.webhook_failed"


def recorded(session: Session, key: str) -> bool:
    """Whether an event with this dedup key is in the log: the outcome is known."""
    found = session.scalar(select(Event.id).where(Event.dedup_key == key).limit(1))
    return found is not None


def record(
    session: Session,
    kind: str,
    alert_id: int,
    position: Position,
    detail: dict[str, Any],
    key: str | None = None,
) -> bool:
    """An event of the step at `position`; False when `key` was recorded before."""
    full = {"step": position.step, "round": position.round, **detail}
    return record_event(session, kind, alert_id=alert_id, detail=full, dedup_key=key)


def move_on_after_failure(
    session: Session,
    alert_id: int,
    policy: Policy,
    position: Position,
    now: datetime,
    reason: str,
) -> tuple[Position | None, int]:
    """Make the next step due now, as a page that reached nobody does: (the position
    now due, or None; how many pages of the step may still reach someone).

    While a page of the same step may still reach someone (pending, sent, delivered)
    the step's wait stands, as for a failed page (shared.escalation.after_end): the
    person paged may still answer. A step that only runs a PHLO has none.
    """
    # The step's pages are looked up as any failed page's would be: a stand-in row
    # of the step (id 0: no real row) that is never added to the session.
    stand_in = Notification(id=0, alert_id=alert_id, step=position.step, round=position.round)
    live = live_in_step(session, stand_in, (Channel.SMS.value, Channel.VOICE.value))
    if live:
        return None, live
    due = escalate_now(session, alert_id, after=position, policy=policy, now=now, reason=reason)
    return due, 0
