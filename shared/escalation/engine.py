"""The escalation engine's database side: fire each step exactly once.

What a step pages and what follows it is decided in shared.escalation.plan;
this module stores and claims. The alert row holds the position to fire next
(`esc_step`, `esc_round`) and when (`next_fire_at`). Firing is a
compare-and-set on those three columns, so a step fires once however many
hand-overs, redelivered tasks, workers or beat restarts try to fire it.
`step_enqueued_at` records when the hand-over of steps (worker.tasks.hand_over_steps)
handed the due position to the workers, so a step waiting in a long queue is
not handed over again every second.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session

from shared.core.enums import AlertStatus, EscalationState
from shared.core.events import record_event, record_or_defer
from shared.core.models import Alert, Notification
from shared.core.row_writes import set_params, sync_loaded, update_row
from shared.escalation import position_statements as statements
from shared.escalation.plan import (
    START,
    Exhausted,
    Position,
    StepPlan,
    next_position,
    plan_step,
)
from shared.escalation.step_pages import Planned, StepAlert, plan_step_pages
from shared.notifications.state import LIVE, NotificationState
from shared.routing.oncall_config import Contact, OncallConfig, Policy
from shared.routing.route import Routed
from shared.schedules.overrides import Override

log = logging.getLogger(__name__)


END_OF_CHAIN = -1  # esc_step once the last step fired: when due, the chain is exhausted


@dataclass(frozen=True)
class FireResult:
    fired: bool
    step: int | None = None
    round: int | None = None
    exhausted: bool = False
    planned: tuple[Planned, ...] = ()  # to hand over now
    held: tuple[Planned, ...] = ()  # held by quiet hours: handed over when due


def start(
    session: Session, alert_id: int, policy: str, now: datetime, *, snapshot: dict[str, Any]
) -> bool:
    """Put an alert on its chain, first step due now; False if it already is.

    `snapshot` is the chain frozen onto the alert (shared.routing.route.freeze_chain),
    stored in the same compare-and-set so an alert is never active without it.
    """
    routed = Routed(policy, snapshot)
    return _claim_start(session, alert_id, routed, esc_step=0, esc_round=0, next_fire_at=now)


def _claim_start(session: Session, alert_id: int, routed: Routed, **position: object) -> bool:
    """The compare-and-set from "routed, not started" to `position` on the `routed`
    chain: the step it names is the next to fire."""
    return bool(start_many(session, [alert_id], routed, position))


def start_many(
    session: Session, alert_ids: Sequence[int], routed: Routed, position: dict[str, Any]
) -> set[int]:
    """`_claim_start` for alerts on one chain at one position (the alerts of a request
    routed together), in one statement: the ids started. An Alertmanager group of
    100 alerts took 100 UPDATEs inside the routing's transaction (on SQLite, inside
    the write lock every receiver waits for). The WHERE is the single start's."""
    values = {
        "policy": routed.policy,
        "escalation_snapshot": routed.snapshot,
        "escalation": EscalationState.ACTIVE,
        "step_enqueued_at": None,
        **position,
    }
    if len(alert_ids) == 1:
        where = {"alert_id": alert_ids[0], "pending": EscalationState.PENDING}
        one = update_row(
            session, statements.START, Alert, alert_ids[0], values, where | statements.TRIGGERED
        )
        return set(alert_ids) if one else set()
    params = {"alert_ids": list(alert_ids), "pending": EscalationState.PENDING}
    rows = session.execute(
        statements.START_MANY, params | statements.TRIGGERED | set_params(values)
    )
    started = {row[0] for row in rows}
    for alert_id in started:
        sync_loaded(session, Alert, alert_id, values)
    return started


def position_after(
    plan: StepPlan, position: Position, now: datetime, *, report_exhaustion: bool
) -> dict[str, Any]:
    """Pure: what firing `position` by `plan` stores as the chain's next position.

    Explicit recipients with no wait: nothing follows their page, so the chain
    completes in the compare-and-set that fires the step (not in one more task a
    tick later, nor in a second UPDATE)."""
    after = stored_position(plan.next, position.round)
    completes = not report_exhaustion and after.step == END_OF_CHAIN and plan.due_at <= now
    then: dict[str, Any] = (
        {"next_fire_at": None, "escalation": EscalationState.COMPLETED}
        if completes
        else {"next_fire_at": plan.due_at}
    )
    return then | {"esc_step": after.step, "esc_round": after.round}


def due_step_filter(now: datetime, lost_before: datetime) -> tuple[ColumnElement[bool], ...]:
    """The alerts whose next position is due by `now` and not handed over since
    `lost_before` (see `claim_due_steps`), as a WHERE clause."""
    return (
        Alert.status == AlertStatus.TRIGGERED,
        Alert.escalation == EscalationState.ACTIVE,
        Alert.next_fire_at.is_not(None),
        Alert.next_fire_at <= now,
        or_(Alert.step_enqueued_at.is_(None), Alert.step_enqueued_at < lost_before),
    )


def claim_due_steps(
    session: Session, now: datetime, lost_before: datetime
) -> list[tuple[int, int, int]]:
    """(alert id, step, round) of every due position to hand to the workers now,
    marked handed over in the same statement.

    A position handed over at `lost_before` or later is left alone: its task is
    still in the queue, and publishing a copy every second only grows that queue.
    One handed over earlier was lost with the broker and is handed over again.
    A new position (fired, hurried, started) has no mark, so it goes at once.
    One UPDATE ... RETURNING, so concurrent hand-overs never both claim a position,
    and what is marked is exactly the position returned.
    """
    rows = session.execute(
        update(Alert)
        .where(*due_step_filter(now, lost_before))
        .values(step_enqueued_at=now)
        .returning(Alert.id, Alert.esc_step, Alert.esc_round)
        .execution_options(synchronize_session=False)
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
    overrides: Sequence[Override] = (),
    severity: str | None = None,
    events: list[dict[str, Any]] | None = None,
    starting: Routed | None = None,
) -> FireResult:
    """Fire `position` if it is still the one due; plan its notifications.

    A schedule the step names pages whoever is on call now (with `overrides`);
    a step that finds nobody at all because of a schedule gap moves on at once,
    loudly (an ERROR, an event, a metric), never silently.

    A page of a `severity` that may wait (the alert's own when not given), to a
    person in their quiet hours, is planned due when those hours end
    (shared.escalation.quiet_hours); the chain's pace is unchanged.

    `text_for(contact, channel)` gives an SMS its words (a call reads the
    alert when answered). Once the last step has fired the stored position is
    END_OF_CHAIN, due when the last wait runs out: that firing ends the chain.
    Any other position must be one the policy has (ValueError otherwise): a
    frozen chain keeps every position it ever stored. `events`: where the step's
    events go, for a caller that writes them with others; else they are written here.
    `starting` (the alert's route): the alert is not on its chain yet, and
    starting it and firing its first step are one compare-and-set, so the first
    page waits for one UPDATE of the alert, not two (several alerts routed together
    start with one: `start_and_fire_many`).
    """
    if position.step == END_OF_CHAIN:
        return end_chain(session, alert_id, position, policy, now, report=report_exhaustion)
    plan = plan_step(config, policy, position, now, overrides)
    then = position_after(plan, position, now, report_exhaustion=report_exhaustion)
    if starting is not None:
        claimed = _claim_start(session, alert_id, starting, **then)
    else:
        claimed = _claim_position(session, alert_id, position, now, **then)
    if not claimed:
        return FireResult(fired=False)
    if severity is None:
        severity = session.scalar(select(Alert.severity).where(Alert.id == alert_id)) or ""
    step_events: list[dict[str, Any]] = []
    alert = StepAlert(alert_id, severity, text_for)
    [(planned, held)] = plan_step_pages(session, [alert], policy, plan, now, step_events)
    record_or_defer(session, step_events, events)
    return FireResult(True, position.step, position.round, planned=planned, held=held)


def start_and_fire_many(
    session: Session,
    alerts: Sequence[StepAlert],
    routed: Routed,
    config: OncallConfig,
    policy: Policy,
    now: datetime,
    *,
    report_exhaustion: bool,
    overrides: Sequence[Override],
    events: list[dict[str, Any]],
) -> dict[int, FireResult]:
    """Start alerts routed together onto one chain and fire its first step for each:
    `fire` from START with `starting`, for many alerts in one compare-and-set
    (`start_many`) and their pages in one INSERT (`plan_step_pages`). Each alert's
    result, by id; one already started, or closed meanwhile, did not fire. `config` and
    `policy`: the chain `routed` froze, thawed.

    An Alertmanager group of 100 alerts took 100 UPDATEs and 100 INSERTs inside the
    routing's transaction (on SQLite, inside the write lock every receiver waits for).
    Its events go to `events`, for the caller to write.
    """
    plan = plan_step(config, policy, START, now, overrides)
    then = position_after(plan, START, now, report_exhaustion=report_exhaustion)
    started = start_many(session, [alert.alert_id for alert in alerts], routed, then)
    fired = [alert for alert in alerts if alert.alert_id in started]
    pages = plan_step_pages(session, fired, policy, plan, now, events)
    results = {alert.alert_id: FireResult(fired=False) for alert in alerts}
    for alert, (planned, held) in zip(fired, pages, strict=True):
        results[alert.alert_id] = FireResult(
            True, START.step, START.round, planned=planned, held=held
        )
    return results


def stored_position(following: Position | Exhausted, round: int) -> Position:
    """The position stored as next: END_OF_CHAIN in `round` once nothing follows,
    so the chain still waits out the last step before it is declared exhausted."""
    if isinstance(following, Position):
        return following
    return Position(END_OF_CHAIN, round)


def _claim_position(
    session: Session, alert_id: int, position: Position, now: datetime | None, **values: object
) -> bool:
    """Compare-and-set on the stored position: only one caller moves the chain from it.

    The position stored after it (or its new due time) was never handed over,
    so the mark is cleared: it is handed over as soon as it is due.
    """
    values = {**values, "step_enqueued_at": None}
    where = {
        "alert_id": alert_id,
        "active": EscalationState.ACTIVE,
        "at_step": position.step,
        "at_round": position.round,
        "due_by": now,
        **statements.TRIGGERED,
    }
    statement = statements.position_update(tuple(sorted(values)), now is not None)
    return update_row(session, statement, Alert, alert_id, values, where)


def end_chain(
    session: Session,
    alert_id: int,
    position: Position,
    policy: Policy,
    now: datetime,
    *,
    report: bool,
) -> FireResult:
    """End the chain at the stored `position`: the last wait ran out with no
    acknowledgement. Explicit recipients (no policy) simply end: there was
    nobody else to try, so nothing to report."""
    status = EscalationState.EXHAUSTED if report else EscalationState.COMPLETED
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
    waiting for the next hand-over of steps.
    """
    due = stored_position(next_position(policy, after), after.round)
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
    reach someone: while one is live, a single failure does not move the chain on.

    A delivered one counts too: its person has the page and may still answer it.
    """
    reaching = sorted(state.value for state in LIVE | {NotificationState.DELIVERED})
    return len(
        session.execute(
            select(Notification.id).where(
                Notification.alert_id == notification.alert_id,
                Notification.step == notification.step,
                Notification.round == notification.round,
                Notification.id != notification.id,
                Notification.channel.in_(channels),
                Notification.state.in_(reaching),
            )
        ).all()
    )
