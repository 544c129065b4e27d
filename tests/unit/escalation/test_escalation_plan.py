"""Escalation decisions: who a step pages, when the chain moves on, where it goes, re-calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.escalation.plan import (
    EXHAUSTED,
    START,
    PlannedNotification,
    Position,
    after_unanswered_call,
    next_due_at,
    next_position,
    plan_step,
    recall_due_at,
    step_notifications,
)
from shared.routing.oncall_config import Channel, OncallConfig, parse_config

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

CONFIG = """\
contacts:
  alice: {phone: "+14155550101"}
  bob: {phone: "+14155550102", channels: [voice]}
  carol: {phone: "+14155550103", channels: [sms]}
teams:
  leads: {members: [carol, alice]}
policies:
  primary:
    steps:
      - {targets: [alice], channels: [sms, voice], wait: 5m}
      - {targets: [bob, alice], channels: [voice, sms], wait: 2m}
      - targets: [leads]
        channels: [sms, voice]
        wait: 0
        recall: {attempts: 1, interval: 30s}
    repeat: 1
    recall: {attempts: 2, interval: 60}
  once:
    steps:
      - {targets: [bob], channels: [voice], wait: 10m}
default_policy: primary
"""


@pytest.fixture(scope="module")
def config() -> OncallConfig:
    return parse_config(CONFIG)


def pairs(notifications: tuple[PlannedNotification, ...]) -> list[tuple[str, str]]:
    return [(n.contact.name, n.channel.value) for n in notifications]


def test_step_pages_each_person_on_each_channel(config: OncallConfig) -> None:
    notifications = step_notifications(config, config.policies["primary"], 0)
    assert pairs(notifications) == [("alice", "sms"), ("alice", "voice")]
    assert notifications[0].contact.phone == "+14155550101"
    assert notifications[0].channel is Channel.SMS


def test_contact_only_gets_channels_they_accept(config: OncallConfig) -> None:
    notifications = step_notifications(config, config.policies["primary"], 1)
    assert pairs(notifications) == [("bob", "voice"), ("alice", "voice"), ("alice", "sms")]


def test_team_step_expands_members_in_order(config: OncallConfig) -> None:
    notifications = step_notifications(config, config.policies["primary"], 2)
    assert pairs(notifications) == [("carol", "sms"), ("alice", "sms"), ("alice", "voice")]


def test_next_step_is_due_after_the_wait(config: OncallConfig) -> None:
    policy = config.policies["primary"]
    assert next_due_at(policy, 0, NOW) == NOW + timedelta(minutes=5)
    assert next_due_at(policy, 1, NOW) == NOW + timedelta(minutes=2)
    assert next_due_at(policy, 2, NOW) == NOW


def test_chain_walks_steps_then_repeats_then_is_exhausted(config: OncallConfig) -> None:
    policy = config.policies["primary"]
    walked: list[Position] = []
    position: Position | str = START
    while isinstance(position, Position):
        walked.append(position)
        position = next_position(policy, position)
    assert position == EXHAUSTED
    assert walked == [Position(s, r) for r in (0, 1) for s in (0, 1, 2)]


def test_without_repeat_the_last_step_exhausts(config: OncallConfig) -> None:
    assert next_position(config.policies["once"], START) == EXHAUSTED


def test_positions_left_behind_by_a_shorter_policy_still_end(config: OncallConfig) -> None:
    policy = config.policies["once"]
    assert next_position(policy, Position(step=4, round=0)) == EXHAUSTED
    assert next_position(config.policies["primary"], Position(step=7, round=0)) == Position(0, 1)
    assert next_position(config.policies["primary"], Position(step=0, round=5)) == Position(1, 5)
    with pytest.raises(ValueError):
        next_position(policy, Position(step=-1, round=0))


def test_plan_step_puts_it_together(config: OncallConfig) -> None:
    policy = config.policies["primary"]
    plan = plan_step(config, policy, Position(1, 0), NOW)
    assert plan.position == Position(1, 0)
    assert pairs(plan.notifications) == [("bob", "voice"), ("alice", "voice"), ("alice", "sms")]
    assert plan.next == Position(2, 0)
    assert plan.due_at == NOW + timedelta(minutes=2)
    assert not plan.is_last


def test_plan_of_the_very_last_step_says_exhausted(config: OncallConfig) -> None:
    plan = plan_step(config, config.policies["once"], START, NOW)
    assert plan.next == EXHAUSTED
    assert plan.is_last
    assert plan.due_at == NOW + timedelta(minutes=10)


@pytest.mark.parametrize("position", [Position(3, 0), Position(0, 2), Position(-1, 0)])
def test_plan_step_refuses_positions_the_policy_does_not_have(
    config: OncallConfig, position: Position
) -> None:
    with pytest.raises(ValueError):
        plan_step(config, config.policies["primary"], position, NOW)


@pytest.mark.parametrize(
    ("step", "attempt", "decision"),
    [
        (0, 0, "recall"),  # policy recall: 2 re-calls after the first call
        (0, 1, "recall"),
        (0, 2, "next_step"),
        (0, 9, "next_step"),
        (2, 0, "recall"),  # the step's own recall: 1 re-call
        (2, 1, "next_step"),
    ],
)
def test_unanswered_call_is_recalled_as_configured(
    config: OncallConfig, step: int, attempt: int, decision: str
) -> None:
    assert after_unanswered_call(config.policies["primary"], step, attempt) == decision


def test_without_recall_an_unanswered_call_moves_on(config: OncallConfig) -> None:
    assert after_unanswered_call(config.policies["once"], 0, 0) == "next_step"
    with pytest.raises(ValueError):
        after_unanswered_call(config.policies["once"], 0, -1)


def test_recall_due_time_uses_the_step_or_policy_interval(config: OncallConfig) -> None:
    policy = config.policies["primary"]
    assert recall_due_at(policy, 0, NOW) == NOW + timedelta(seconds=60)
    assert recall_due_at(policy, 2, NOW) == NOW + timedelta(seconds=30)
    with pytest.raises(ValueError):
        recall_due_at(config.policies["once"], 0, NOW)
