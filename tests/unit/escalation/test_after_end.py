"""What a page that reached nobody means for its chain: pure, with `now` given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.enums import Channel
from shared.escalation.after_end import AfterEnd, EndDecision, after_end, live_channels
from shared.routing.oncall_config import OncallConfig, parse_config

NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)

CONFIG = """\
contacts:
  alice: {phone: "+14155550101"}
policies:
  recalling:
    steps:
      - {targets: [alice], channels: [voice], wait: 5m}
      - targets: [alice]
        channels: [voice, sms]
        wait: 0
        recall: {attempts: 1, interval: 30s}
    recall: {attempts: 2, interval: 60}
  once:
    steps:
      - {targets: [alice], channels: [voice, sms], wait: 10m}
default_policy: recalling
"""


@pytest.fixture(scope="module")
def config() -> OncallConfig:
    return parse_config(CONFIG)


def decide(policy, *, channel="voice", step=0, attempt=0, live_others=0):
    return after_end(
        channel=channel,
        step=step,
        attempt=attempt,
        policy=policy,
        live_others=live_others,
        now=NOW,
    )


def test_an_unanswered_call_is_called_again_at_the_policys_interval(config) -> None:
    decision = decide(config.policies["recalling"], attempt=0, live_others=3)
    assert decision == EndDecision(AfterEnd.RECALL, NOW + timedelta(seconds=60))


def test_a_steps_own_recall_interval_wins(config) -> None:
    decision = decide(config.policies["recalling"], step=1, attempt=0)
    assert decision == EndDecision(AfterEnd.RECALL, NOW + timedelta(seconds=30))


def test_after_the_last_recall_the_chain_moves_on(config) -> None:
    assert decide(config.policies["recalling"], attempt=2).action is AfterEnd.ESCALATE
    assert decide(config.policies["recalling"], step=1, attempt=1).action is AfterEnd.ESCALATE


def test_while_another_page_of_the_step_is_live_the_chain_waits(config) -> None:
    decision = decide(config.policies["recalling"], attempt=2, live_others=1)
    assert decision == EndDecision(AfterEnd.OTHERS_LIVE)


def test_a_failed_text_is_never_recalled(config) -> None:
    policy = config.policies["recalling"]
    assert decide(policy, channel="sms", attempt=0).action is AfterEnd.ESCALATE
    assert decide(policy, channel="sms", attempt=0, live_others=2).action is AfterEnd.OTHERS_LIVE


def test_without_recall_an_unanswered_call_escalates(config) -> None:
    assert decide(config.policies["once"]).action is AfterEnd.ESCALATE


def test_a_step_past_the_end_of_a_shortened_policy_reads_as_its_last(config) -> None:
    decision = decide(config.policies["recalling"], step=7, attempt=0)
    assert decision == EndDecision(AfterEnd.RECALL, NOW + timedelta(seconds=30))


def test_after_a_call_only_other_calls_count_after_a_text_both_do() -> None:
    assert live_channels("voice") == (Channel.VOICE,)
    assert live_channels("sms") == (Channel.SMS, Channel.VOICE)
