"""Where a chain starts again when an acknowledgement times out: a new run of the
policy's rounds, each page in it a plan of its own; pure, no clock."""

from __future__ import annotations

import pytest

from shared.escalation.plan import (
    EXHAUSTED,
    Position,
    has_position,
    next_position,
    restart_position,
    round_in_run,
)
from shared.routing.oncall_config import Policy, parse_config

CONFIG = parse_config(
    """\
contacts:
  alice: {phone: "+14155550101", channels: [sms]}
  bob: {phone: "+14155550102", channels: [sms]}
policies:
  timed:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
      - {targets: [bob], channels: [sms], wait: 5m}
    repeat: 1
    ack_timeout: 30m
  once:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
    ack_timeout: 10m
  plain:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
    repeat: 1
default_policy: timed
"""
)
TIMED: Policy = CONFIG.policies["timed"]


def walk(policy: Policy, start: Position) -> list[Position]:
    """Every position a chain fires from `start` until it is exhausted."""
    fired = [start]
    while (following := next_position(policy, fired[-1])) != EXHAUSTED:
        assert isinstance(following, Position)
        fired.append(following)
    return fired


@pytest.mark.parametrize(
    ("acked_in", "restarts_at"),
    [(0, 2), (1, 2), (2, 4), (3, 4), (4, 6)],
)
def test_a_restart_begins_the_next_run_at_its_first_step(acked_in: int, restarts_at: int) -> None:
    assert restart_position(TIMED, acked_in) == Position(0, restarts_at)


def test_a_restarted_run_repeats_as_the_policy_says_then_ends() -> None:
    first = walk(TIMED, Position(0, 0))
    again = walk(TIMED, restart_position(TIMED, 1))
    assert first == [Position(0, 0), Position(1, 0), Position(0, 1), Position(1, 1)]
    assert again == [Position(0, 2), Position(1, 2), Position(0, 3), Position(1, 3)]
    assert not set(first) & set(again)  # no page of the new run repeats an earlier plan
    assert [round_in_run(TIMED, p.round) for p in again] == [0, 0, 1, 1]
    assert all(has_position(TIMED, p) for p in again)


def test_a_policy_without_repeat_restarts_one_round_on() -> None:
    once = CONFIG.policies["once"]
    assert restart_position(once, 0) == Position(0, 1)
    assert restart_position(once, 1) == Position(0, 2)
    assert walk(once, Position(0, 1)) == [Position(0, 1)]


def test_without_ack_timeout_rounds_past_repeat_stay_unknown() -> None:
    plain = CONFIG.policies["plain"]
    assert has_position(plain, Position(0, 1))
    assert not has_position(plain, Position(0, 2))
    assert next_position(plain, Position(0, 2)) == EXHAUSTED


def test_a_negative_round_is_refused() -> None:
    with pytest.raises(ValueError):
        restart_position(TIMED, -1)
