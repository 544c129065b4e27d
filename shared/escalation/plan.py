"""What the escalation engine does next, decided from the policy and the time it is given.

Pure: no clock, no database. The engine stores an alert's position (step and
round) and the time it is due; these functions say what a position pages,
when the chain moves on, and where it moves to. Keeping the decisions here
lets every path through a policy be tested in microseconds, and keeps the
tasks that apply them thin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

from shared.core.enums import EscalationState
from shared.routing.oncall_config import Channel, Contact, OncallConfig, Policy
from shared.schedules.overrides import Override

EXHAUSTED: Final = EscalationState.EXHAUSTED
Exhausted = Literal[EscalationState.EXHAUSTED]
UnansweredCallDecision = Literal["recall", "next_step"]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where an alert is in its policy: step index within round `round` (0 is the first run)."""

    step: int
    round: int


START: Final = Position(step=0, round=0)


@dataclass(frozen=True, slots=True)
class PlannedNotification:
    """One message or call a step asks for; the engine turns it into a notification row."""

    contact: Contact
    channel: Channel


@dataclass(frozen=True, slots=True)
class StepPlan:
    """Everything one step decides: who to page now, what comes next, and when.

    `next` becomes due at `due_at` even when it is EXHAUSTED: the last wait is
    the time the last person gets to answer before the chain gives up.
    """

    position: Position
    notifications: tuple[PlannedNotification, ...]
    next: Position | Exhausted
    due_at: datetime
    # Schedules the step names that had nobody on call: with nobody else to page,
    # the chain moves on at once (`due_at` is then the firing time).
    empty_schedules: tuple[str, ...] = ()

    @property
    def is_last(self) -> bool:
        return self.next == EXHAUSTED


def plan_step(
    config: OncallConfig,
    policy: Policy,
    position: Position,
    now: datetime,
    overrides: Sequence[Override] = (),
) -> StepPlan:
    """The plan for firing `position` at `now`; ValueError if the policy has no such position.

    A schedule the step names stands for whoever is on call at `now`, with `overrides`.
    """
    _check_position(policy, position)
    notifications = step_notifications(config, policy, position.step, now, overrides)
    empty = tuple(
        target
        for target in policy.steps[position.step].targets
        if target in config.schedules and not config.people_of(target, now, overrides)
    )
    return StepPlan(
        position=position,
        notifications=notifications,
        next=next_position(policy, position),
        due_at=now if empty and not notifications else next_due_at(policy, position.step, now),
        empty_schedules=empty,
    )


def step_notifications(
    config: OncallConfig,
    policy: Policy,
    step: int,
    at: datetime | None = None,
    overrides: Sequence[Override] = (),
) -> tuple[PlannedNotification, ...]:
    """Each person of the step on each of the step's channels they accept.

    A person is never reached on a channel they did not sign up for (someone
    may take SMS but not calls at their desk); the config check reports a
    listed person who would get nothing at all.
    """
    spec = policy.steps[step]
    return tuple(
        PlannedNotification(contact, channel)
        for contact in config.expand_targets(spec, at, overrides)
        for channel in spec.channels
        if contact.accepts(channel)
    )


def next_due_at(policy: Policy, step: int, now: datetime) -> datetime:
    """When the chain moves on after firing `step` at `now`."""
    return now + timedelta(seconds=policy.steps[step].wait)


def next_position(policy: Policy, position: Position) -> Position | Exhausted:
    """The step after `position`: the next one, the first of the next round, or EXHAUSTED.

    A position past the end moves to the next round or ends: an alert
    started before chains were frozen follows the file, which may have lost
    the step it is at, and its chain must still end rather than stall.
    """
    if position.step < 0 or position.round < 0:
        raise ValueError(f"negative position {position}")
    if position.step + 1 < len(policy.steps):
        return Position(position.step + 1, position.round)
    if round_in_run(policy, position.round) < policy.repeat:
        return Position(0, position.round + 1)
    return EXHAUSTED


def round_in_run(policy: Policy, round: int) -> int:
    """Which of the policy's `repeat + 1` rounds `round` is within its run of the chain.

    A chain runs once, unless an acknowledgement times out (`ack_timeout`): then it
    runs again from the start, and its rounds keep counting on (a run of a policy
    with `repeat: 1` is rounds 0-1, the next 2-3), so no page of a later run can be
    mistaken for one of an earlier run. Without `ack_timeout` there is one run.
    """
    if policy.ack_timeout is None:
        return round
    return round % (policy.repeat + 1)


def restart_position(policy: Policy, round: int) -> Position:
    """Where a chain starts again after an acknowledgement timed out in `round`:
    the first step of the first round of the next run."""
    if round < 0:
        raise ValueError(f"negative round {round}")
    rounds = policy.repeat + 1
    return Position(0, (round // rounds + 1) * rounds)


def after_unanswered_call(policy: Policy, step: int, attempt: int) -> UnansweredCallDecision:
    """Call again, or stop calling this person at this step.

    `attempt` is the call that went unanswered: 0 for the first call, 1 for
    the first re-call, and so on (the notification row's `attempt`). With
    `recall.attempts = 2` a person is called at most 3 times in a step.
    "next_step" means this person's calls for the step are over; the chain
    itself moves on at the step's due time, as the policy's wait says.
    """
    if attempt < 0:
        raise ValueError(f"negative attempt {attempt}")
    recall = policy.recall_for(step)
    if recall is not None and attempt < recall.attempts:
        return "recall"
    return "next_step"


def recall_due_at(policy: Policy, step: int, now: datetime) -> datetime:
    """When to place the re-call decided at `now`; ValueError if the step has no recall."""
    recall = policy.recall_for(step)
    if recall is None:
        raise ValueError(f"policy {policy.name!r} step {step} has no recall")
    return now + timedelta(seconds=recall.interval)


def has_position(policy: Policy, position: Position) -> bool:
    """Whether `policy` has this step in this round: a frozen chain always has the
    position stored for it; a file edited under an older alert may not."""
    return (
        0 <= position.step < len(policy.steps)
        and position.round >= 0
        and round_in_run(policy, position.round) <= policy.repeat
    )


def _check_position(policy: Policy, position: Position) -> None:
    if not has_position(policy, position):
        raise ValueError(
            f"policy {policy.name!r} has no step {position.step} in round {position.round}"
        )
