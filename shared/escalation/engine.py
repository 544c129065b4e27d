"""The escalation engine's database side: fire each step exactly once.

What a step pages and what follows it is decided in shared.escalation.plan;
this module stores and claims. The alert row holds the position to fire next
(`esc_step`, `esc_round`) and when (`next_fire_at`). Firing is a
compare-and-set on those three columns, so a step fires once however many
ticks, redelivered tasks, workers or beat restarts try to fire it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.core.events import record_event
from shared.core.models import Alert, Notification
from shared.escalation.plan import EXHAUSTED, Position, next_position, plan_step
from shared.notifications.state import NotificationState
from shared.notifications.store import plan_notification
from shared.routing.oncall_config import Contact, OncallConfig, Policy

log = logging.getLogger(__name__)


END_OF_CHAIN = -1  # esc_step once the last step fired: when due, the chain is exhausted


@dataclass(frozen=True)
class Planned:
    notification_id: int
    channel: str


@dataclass(frozen=True)
class FireResult:
    fired: bool
    step: int | None = None
    round: int | None = None
    exhausted: bool = False
    planned: tuple[Planned, ...] = ()


def start(session: Session, alert_id: int, policy: str, now: datetime) -> bool:
    """Put an alert on its chain, first step due now; False if it already is."""
    return (
        session.execute(
            update(Alert)
            .where(Alert.id == alert_id, Alert.escalation == "pending", Alert.status == "triggered")
            .values(policy=policy, esc_step=0, esc_round=0, next_fire_at=now, escalation="active")
        ).rowcount
        == 1
    )


def due_alerts(session: Session, now: datetime) -> list[tuple[int, int, int]]:
    """(alert id, step, round) of every alert whose next position is due."""
    rows = session.execute(
        select(Alert.id, Alert.esc_step, Alert.esc_round).where(
            Alert.status == "triggered",
            Alert.escalation == "active",
            Alert.next_fire_at.is_not(None),
            Alert.next_fire_at <= now,
        )
    )
    return [(row[0], row[1], row[2]) for row in rows]


def fire(
    session: Session,
    alert_id: int,
    position: Position,
    config: OncallConfig,
    policy: Policy,
    now: datetime,
    text_for: Callable[[Contact, str], str],
    *,
    report_exhaustion: bool = True,
) -> FireResult:
    """Fire `position` if it is still the one due; plan its notifications.

    `text_for(contact, channel)` gives an SMS its words (a call reads the
    alert when answered). Once the last step has fired the stored position is
    END_OF_CHAIN, due when the last wait runs out: that firing ends the chain.
    """
    if position.step == END_OF_CHAIN or position.step >= len(policy.steps):
        return _exhaust(session, alert_id, position, policy, now, report_exhaustion)
    plan = plan_step(config, policy, position, now)
    after = Position(END_OF_CHAIN, position.round) if plan.next == EXHAUSTED else plan.next
    assert isinstance(after, Position)
    if not _claim_position(
        session,
        alert_id,
        position,
        now,
        esc_step=after.step,
        esc_round=after.round,
        next_fire_at=plan.due_at,
    ):
        return FireResult(fired=False)
    planned: list[Planned] = []
    for item in plan.notifications:
        channel = item.channel.value
        notification = plan_notification(
            session,
            alert_id=alert_id,
            channel=channel,
            destination=item.contact.phone,
            text=text_for(item.contact, channel),
            step=position.step,
            round=position.round,
            contact=item.contact.name,
            enqueued_at=now,
        )
        if notification is not None:
            planned.append(Planned(notification.id, channel))
    record_event(
        session,
        "escalation.step_fired",
        alert_id=alert_id,
        detail={
            "policy": policy.name,
            "step": position.step,
            "round": position.round,
            "targets": list(dict.fromkeys(item.contact.name for item in plan.notifications)),
            "next_at": plan.due_at.isoformat(),
        },
    )
    return FireResult(True, position.step, position.round, planned=tuple(planned))


def _claim_position(
    session: Session, alert_id: int, position: Position, now: datetime | None, **values: object
) -> bool:
    """Compare-and-set on the stored position: only one caller moves the chain from it."""
    conditions = [
        Alert.id == alert_id,
        Alert.status == "triggered",
        Alert.escalation == "active",
        Alert.esc_step == position.step,
        Alert.esc_round == position.round,
    ]
    if now is not None:
        conditions.append(Alert.next_fire_at <= now)
    return session.execute(update(Alert).where(*conditions).values(**values)).rowcount == 1


def _exhaust(
    session: Session,
    alert_id: int,
    position: Position,
    policy: Policy,
    now: datetime,
    report: bool,
) -> FireResult:
    """The last wait ran out with no acknowledgement. Explicit recipients (no
    policy) simply end: there was nobody else to try, so nothing to report."""
    status = "exhausted" if report else "completed"
    if not _claim_position(session, alert_id, position, now, next_fire_at=None, escalation=status):
        return FireResult(fired=False)
    if not report:
        return FireResult(fired=True)
    record_event(
        session,
        "escalation.exhausted",
        alert_id=alert_id,
        detail={"policy": policy.name, "rounds": position.round + 1},
    )
    log.error(
        "alert %s: escalation policy %s ran out without an acknowledgement", alert_id, policy.name
    )
    return FireResult(fired=True, exhausted=True)


def escalate_now(
    session: Session,
    alert_id: int,
    *,
    after: Position,
    policy: Policy,
    now: datetime,
    reason: str,
) -> Position | None:
    """Make the position after `after` due at once, if the chain is still there.

    The condition on the stored position means two reasons to move on from
    the same step (a busy signal and a no-answer from two people) move it
    once. Returns the position now due, for the caller to fire without
    waiting for the next tick.
    """
    following = next_position(policy, after)
    due = Position(END_OF_CHAIN, after.round) if following == EXHAUSTED else following
    assert isinstance(due, Position)
    if not _claim_position(session, alert_id, due, None, next_fire_at=now):
        return None
    record_event(
        session,
        "escalation.hurried",
        alert_id=alert_id,
        detail={"after_step": after.step, "round": after.round, "reason": reason},
    )
    return due


def live_in_step(session: Session, notification: Notification, channels: tuple[str, ...]) -> int:
    """Other notifications of the same step and round, on `channels`, that may still
    reach someone: while one is live, a single failure does not move the chain on."""
    dead = (
        NotificationState.FAILED.value,
        NotificationState.UNDELIVERED.value,
        NotificationState.CANCELLED.value,
    )
    return len(
        session.execute(
            select(Notification.id).where(
                Notification.alert_id == notification.alert_id,
                Notification.step == notification.step,
                Notification.round == notification.round,
                Notification.id != notification.id,
                Notification.channel.in_(channels),
                Notification.state.not_in(dead),
            )
        ).all()
    )
