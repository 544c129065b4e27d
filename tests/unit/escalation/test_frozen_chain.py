"""A chain frozen onto an alert: everything a later step needs, and nothing from the file."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared.escalation.engine import END_OF_CHAIN, stored_position
from shared.escalation.plan import EXHAUSTED, Position, has_position, plan_step, step_notifications
from shared.routing.oncall_config import OncallConfig, parse_config
from shared.routing.route import DIRECT_POLICY, direct_config, freeze_chain, thaw_chain

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

CONFIG = """\
contacts:
  alice: {phone: "+14155550101"}
  bob: {phone: "+14155550102", channels: [voice]}
  carol: {phone: "+14155550103", channels: [sms]}
  dave: {phone: "+14155550104"}
teams:
  leads: {members: [carol, alice]}
policies:
  primary:
    steps:
      - {targets: [alice], channels: [sms, voice], wait: 5m}
      - targets: [bob, leads]
        channels: [voice, sms]
        wait: 2m
        recall: {attempts: 1, interval: 30s}
    repeat: 2
    recall: {attempts: 2, interval: 1m}
  other:
    steps:
      - {targets: [dave], channels: [sms], wait: 10}
default_policy: primary
"""


@pytest.fixture
def config() -> OncallConfig:
    return parse_config(CONFIG)


def pages(config: OncallConfig, policy_name: str) -> list[list[tuple[str, str, str]]]:
    """Who each step pages, at which number, on which channel."""
    policy = config.policies[policy_name]
    return [
        [
            (p.contact.name, p.contact.phone, p.channel.value)
            for p in step_notifications(config, policy, s)
        ]
        for s in range(len(policy.steps))
    ]


def test_a_frozen_chain_pages_exactly_what_the_file_did(config: OncallConfig) -> None:
    snapshot = json.loads(json.dumps(freeze_chain(config, "primary")))  # as stored: plain JSON
    frozen_config, frozen = thaw_chain(snapshot)
    original = config.policies["primary"]
    assert frozen.name == "primary"
    assert [(s.channels, s.wait, s.recall) for s in frozen.steps] == [
        (s.channels, s.wait, s.recall) for s in original.steps
    ]
    assert (frozen.repeat, frozen.recall) == (original.repeat, original.recall)
    assert pages(frozen_config, "primary") == pages(config, "primary")
    assert pages(frozen_config, "primary")[1] == [
        ("bob", "+14155550102", "voice"),
        ("carol", "+14155550103", "sms"),
        ("alice", "+14155550101", "voice"),
        ("alice", "+14155550101", "sms"),
    ]
    first = plan_step(frozen_config, frozen, Position(0, 0), NOW)
    assert first.due_at == plan_step(config, original, Position(0, 0), NOW).due_at


def test_only_the_policy_and_the_people_it_pages_are_frozen(config: OncallConfig) -> None:
    snapshot = freeze_chain(config, "primary")
    assert set(snapshot["contacts"]) == {"alice", "bob", "carol"}
    assert snapshot["contacts"]["carol"] == {
        "name": "carol",
        "phone": "+14155550103",
        "channels": ["sms"],
        "quiet_hours": None,
        "quiet_hours_off": False,
    }
    # Teams are resolved to their members as they were when the chain started.
    assert snapshot["policy"]["steps"][1]["targets"] == ["bob", "carol", "alice"]
    frozen_config, _policy = thaw_chain(snapshot)
    assert list(frozen_config.policies) == ["primary"]


def test_an_edit_of_the_file_does_not_reach_a_frozen_chain(config: OncallConfig) -> None:
    snapshot = freeze_chain(config, "primary")
    edited = parse_config(
        CONFIG.replace("+14155550103", "+14155550199")
        .replace("members: [carol, alice]", "members: [dave]")
        .replace("wait: 5m", "wait: 1m")
    )
    assert pages(edited, "primary")[1][1] == ("dave", "+14155550104", "voice")
    frozen_config, frozen = thaw_chain(snapshot)
    assert frozen.steps[0].wait == 300
    assert ("carol", "+14155550103", "sms") in pages(frozen_config, "primary")[1]
    assert "dave" not in frozen_config.contacts


def test_explicit_recipients_freeze_too() -> None:
    config = direct_config(["+14155550101", "+14155550102", "+14155550101"])
    frozen_config, frozen = thaw_chain(freeze_chain(config, DIRECT_POLICY))
    assert frozen.name == DIRECT_POLICY
    assert pages(frozen_config, DIRECT_POLICY) == [
        [("recipient-1", "+14155550101", "sms"), ("recipient-2", "+14155550102", "sms")]
    ]


@pytest.mark.parametrize(
    "snapshot",
    [
        {},
        {"version": 99, "policy": {"name": "p"}, "contacts": {}},
        {"version": 1, "contacts": {}},
        {"version": 1, "policy": {"name": "p", "steps": []}, "contacts": {}},
        {
            "version": 1,
            "policy": {"name": "p", "steps": [{"targets": ["x"], "channels": ["sms"], "wait": 1}]},
            "contacts": {},
        },
        ["not", "a", "mapping"],
    ],
)
def test_what_is_not_a_frozen_chain_is_refused(snapshot: object) -> None:
    with pytest.raises(ValueError):
        thaw_chain(snapshot)  # type: ignore[arg-type]


def test_the_position_stored_after_the_last_step_is_the_end_of_that_round() -> None:
    assert stored_position(Position(2, 1), 1) == Position(2, 1)
    assert stored_position(Position(0, 2), 1) == Position(0, 2)
    assert stored_position(EXHAUSTED, 3) == Position(END_OF_CHAIN, 3)


def test_a_policy_has_only_its_own_steps_and_rounds(config: OncallConfig) -> None:
    policy = config.policies["primary"]  # two steps, repeat 2: rounds 0..2
    assert has_position(policy, Position(0, 0))
    assert has_position(policy, Position(1, 2))
    assert not has_position(policy, Position(2, 0))
    assert not has_position(policy, Position(0, 3))
    assert not has_position(policy, Position(-1, 0))
    assert not has_position(policy, Position(0, -1))
