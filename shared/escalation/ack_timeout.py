"""Acknowledged is not forgotten: an acknowledgement left unresolved for its policy's
`ack_timeout` puts the alert back into escalation, as PagerDuty does.

An acknowledgement under such a policy stores when it runs out in the alert's
`next_fire_at` (shared.alerts.lifecycle.acknowledge), so the hand-over of steps
(worker.tasks.hand_over_steps) finds the due ones with the index it already
uses for due steps, and a resolve (which clears `next_fire_at`) cancels it. It
then restarts the chain here: status back to triggered, first step due now, in
a new run of rounds (shared.escalation.plan.restart_position) so no page
repeats an earlier one's plan. The restart is a compare-and-set on the
acknowledgement it times out, so two hand-overs racing restart it once;
acknowledging again arms a new timeout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from shared.core.enums import AlertStatus, EscalationState
from shared.core.events import record_event
from shared.core.metrics import ACKS_TIMED_OUT
from shared.core.models import Alert
from shared.core.phone import mask_numbers_in
from shared.escalation.plan import restart_position
from shared.notifications.paging_metrics import observe_when_committed
from shared.routing.oncall_config import Policy
from shared.routing.route import thaw_chain

log = logging.getLogger(__name__)

EVENT = "alert.ack_timed_out"


@dataclass(frozen=True, slots=True)
class DueAckTimeout:
    """An acknowledgement whose timeout is due, as the hand-over of steps found it."""

    alert_id: int
    acknowledged_at: datetime


def due_ack_timeout_filter(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Acknowledged alerts whose acknowledgement ran out by `now`, as a WHERE clause."""
    return (
        Alert.status == AlertStatus.ACKNOWLEDGED,
        Alert.next_fire_at.is_not(None),
        Alert.next_fire_at <= now,
        Alert.acknowledged_at.is_not(None),
    )


def due_ack_timeouts(session: Session, now: datetime) -> list[DueAckTimeout]:
    """Acknowledged alerts whose acknowledgement ran out by `now` without a resolve."""
    rows = session.execute(
        select(Alert.id, Alert.acknowledged_at).where(*due_ack_timeout_filter(now))
    ).all()
    return [DueAckTimeout(row[0], row[1]) for row in rows]


def restart_timed_out(session: Session, due: DueAckTimeout, now: datetime) -> bool:
    """Put the alert back into escalation from its first step, once for this
    acknowledgement; False when a resolve, a new acknowledgement or another hand-over
    came first."""
    row = session.execute(
        select(Alert.escalation_snapshot, Alert.esc_round, Alert.acknowledged_by).where(
            Alert.id == due.alert_id
        )
    ).first()
    if row is None:
        return False
    policy = _frozen_policy(due.alert_id, row.escalation_snapshot)
    acknowledged = (
        Alert.id == due.alert_id,
        Alert.status == AlertStatus.ACKNOWLEDGED,
        Alert.acknowledged_at == due.acknowledged_at,
        Alert.next_fire_at <= now,
    )
    if policy is None or policy.ack_timeout is None:
        # Armed by an acknowledgement, yet nothing to restart: disarm, never loop.
        session.execute(update(Alert).where(*acknowledged).values(next_fire_at=None))
        return False
    start = restart_position(policy, row.esc_round)
    restarted = session.execute(
        update(Alert)
        .where(*acknowledged)
        .values(
            status=AlertStatus.TRIGGERED,
            escalation=EscalationState.ACTIVE,
            esc_step=start.step,
            esc_round=start.round,
            next_fire_at=now,
            step_enqueued_at=None,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if restarted != 1:
        return False
    _report(session, due, policy, start.round, row.acknowledged_by, now)
    return True


def restart_ack_timeouts(session: Session, now: datetime) -> list[int]:
    """Every acknowledgement due by `now` timed out: the alerts put back into escalation,
    their first step due now (the hand-over of steps claims it just after)."""
    return [
        due.alert_id
        for due in due_ack_timeouts(session, now)
        if restart_timed_out(session, due, now)
    ]


def _frozen_policy(alert_id: int, snapshot: dict[str, Any] | None) -> Policy | None:
    if snapshot is None:
        return None
    try:
        return thaw_chain(snapshot)[1]
    except ValueError as exc:  # our own data: a bug
        log.error("alert %s: frozen chain unreadable, ack timeout dropped: %s", alert_id, exc)
        return None


def _report(
    session: Session,
    due: DueAckTimeout,
    policy: Policy,
    round: int,
    acknowledged_by: str | None,
    now: datetime,
) -> None:
    """The event, the log line and (once committed) the counter of one ack timeout."""
    record_event(
        session,
        EVENT,
        alert_id=due.alert_id,
        detail={
            "policy": policy.name,
            "acknowledged_at": due.acknowledged_at.isoformat(),
            "acknowledged_by": acknowledged_by,
            "ack_timeout_s": policy.ack_timeout,
            "round": round,
        },
    )
    observe_when_committed(session, lambda: ACKS_TIMED_OUT.labels(policy=policy.name).inc())
    minutes = (now - due.acknowledged_at).total_seconds() / 60
    log.warning(
        "alert %s: acknowledged by %s %.1f min ago and not resolved; escalation of %s restarts",
        due.alert_id,
        mask_numbers_in(acknowledged_by or "?"),
        minutes,
        policy.name,
    )
