"""What a PHLO step's run and a webhook step's post carry, and when a post is tried again."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import textwrap
from datetime import UTC, datetime

import pytest

from shared.core.models import Alert
from shared.escalation.plan import Position
from shared.routing.oncall_config import parse_config
from shared.routing.step_kinds import WebhookFormat
from shared.steps.facts import StepAlert
from shared.steps.phlo_step import next_numbers, phlo_variables
from shared.steps.webhook_step import (
    DELIVERY_HEADER,
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    PostOutcome,
    next_attempt_in,
    outcome_of,
    post_headers,
    webhook_body,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
CONFIG = parse_config(
    textwrap.dedent(
        """\
        contacts:
          alice: {phone: "+14155550101"}
          bob: {phone: "+14155550102", channels: [sms]}
          carol: {phone: "+14155550103"}
        teams:
          ops: {members: [bob, carol]}
        policies:
          p:
            steps:
              - phlo: {id: 5f1c3a2e-1111-4c2b-9a51-0123456789ab, to: [alice]}
                wait: 5m
              - targets: [ops]
                channels: [sms]
                phlo: {id: 5f1c3a2e-1111-4c2b-9a51-0123456789ab, to: [alice, bob]}
                wait: 5m
        default_policy: p
        """
    )
)


def step_alert() -> StepAlert:
    alert = Alert(
        id=7,
        severity="critical",
        summary="disk full",
        source="prometheus",
        labels={"service": "db"},
    )
    return StepAlert.of(alert)


def test_a_phlo_run_carries_the_alert_and_the_next_steps_numbers() -> None:
    policy = CONFIG.policies["p"]
    following = next_numbers(CONFIG, policy, Position(0, 0), NOW)
    assert following == ("+14155550102", "+14155550103", "+14155550101")
    assert phlo_variables(step_alert(), following) == {
        "alert_id": "7",
        "severity": "critical",
        "service": "db",
        "summary": "disk full",
        "text": "[CRITICAL] disk full (alert #7, prometheus)",
        "next_numbers": "+14155550102,+14155550103,+14155550101",
    }
    assert next_numbers(CONFIG, policy, Position(1, 0), NOW) == ()  # nothing follows


def test_a_signed_post_is_an_hmac_of_its_timestamp_and_raw_body() -> None:
    body = webhook_body(
        WebhookFormat.JSON,
        step_alert(),
        policy="p",
        position=Position(1, 0),
        public_base_url="https://pager.example.com/",
    )
    headers = post_headers(body, delivery="alert-7-round-0-step-1", secret="k3y", timestamp=1700)
    expected = hmac.new(b"k3y", b"1700." + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"sha256={expected}"
    assert headers[TIMESTAMP_HEADER] == "1700"
    assert headers[DELIVERY_HEADER] == "alert-7-round-0-step-1"
    data = json.loads(body)
    assert data["alert"] == {
        "id": 7,
        "severity": "critical",
        "service": "db",
        "summary": "disk full",
        "source": "prometheus",
        "labels": {"service": "db"},
    }
    assert (data["policy"], data["step"], data["round"]) == ("p", 1, 0)
    assert data["ack"]["url"] == "https://pager.example.com/api/v1/alerts/7/ack"
    assert data["ack"]["cli"] == "alert-dispatch ack 7"


@pytest.mark.parametrize("format", [WebhookFormat.SLACK, WebhookFormat.MATTERMOST])
def test_chat_posts_are_one_text_with_the_alert_and_how_to_acknowledge(
    format: WebhookFormat,
) -> None:
    body = webhook_body(
        format, step_alert(), policy="p", position=Position(0, 0), public_base_url="http://x"
    )
    text = json.loads(body)["text"]
    line, instructions = text.split("\n")
    assert line == "[CRITICAL] disk full (alert #7, prometheus)"
    assert "`alert-dispatch ack 7`" in instructions
    assert "http://x/api/v1/alerts/7/ack" in instructions
    headers = post_headers(body, delivery="d", secret=None, timestamp=1)
    assert SIGNATURE_HEADER not in headers and TIMESTAMP_HEADER not in headers


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, PostOutcome.OK),
        (204, PostOutcome.OK),
        (301, PostOutcome.FAILED),
        (400, PostOutcome.FAILED),
        (404, PostOutcome.FAILED),
        (408, PostOutcome.RETRY),
        (429, PostOutcome.RETRY),
        (500, PostOutcome.RETRY),
        (503, PostOutcome.RETRY),
        (None, PostOutcome.RETRY),
    ],
)
def test_what_an_answer_means(status: int | None, outcome: PostOutcome) -> None:
    assert outcome_of(status) is outcome


def test_retries_back_off_exponentially_and_end() -> None:
    rng = random.Random(4)
    for made in range(1, MAX_ATTEMPTS):
        delay = next_attempt_in(PostOutcome.RETRY, made, rng)
        ceiling = min(60.0, 2.0 ** (made - 1))
        assert delay is not None and ceiling / 2 <= delay <= ceiling
    assert next_attempt_in(PostOutcome.RETRY, MAX_ATTEMPTS, rng) is None
    assert next_attempt_in(PostOutcome.FAILED, 1, rng) is None
    assert next_attempt_in(PostOutcome.OK, 1, rng) is None
