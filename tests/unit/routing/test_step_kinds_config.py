"""PHLO and webhook steps in the on-call file: they load, freeze onto an alert and
read back, and every mistake in them is named with its path and line."""

from __future__ import annotations

import textwrap

import pytest

from shared.routing.oncall_config import ConfigError, check_config_text, parse_config
from shared.routing.route import freeze_chain, thaw_chain
from shared.routing.step_kinds import WebhookFormat

PHLO_ID = "5f1c3a2e-1111-4c2b-9a51-0123456789ab"

STEPS = textwrap.dedent(
    f"""\
    contacts:
      alice: {{phone: "+14155550101"}}
      bob: {{phone: "+14155550102", channels: [sms]}}
    teams:
      ops: {{members: [alice, bob]}}
    schedules:
      weekly:
        time_zone: UTC
        layers:
          - name: all
            rotation: {{members: [alice], shift: 1w, handoff: "09:00", start: 2026-01-05}}
    policies:
      p:
        steps:
          - phlo: {{id: {PHLO_ID}, to: [ops]}}
            wait: 5m
          - targets: [bob]
            channels: [sms]
            webhook: {{url: "https://hooks.example.com/services/T0/B0/x", format: slack}}
            wait: 10m
          - webhook: {{url: "http://127.0.0.1:9/hook", format: json, secret_env: HOOK_KEY}}
            wait: 1m
    default_policy: p
    """
)


def problems(text: str) -> list[str]:
    return [str(problem) for problem in check_config_text(text)]


@pytest.fixture(autouse=True)
def _secret_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_KEY", "k" * 32)


def test_steps_with_a_phlo_or_a_webhook_load_beside_or_instead_of_targets() -> None:
    steps = parse_config(STEPS).policies["p"].steps
    assert steps[0].targets == () and steps[0].phlo is not None
    assert steps[0].phlo.to == ("ops",)
    assert steps[1].targets == ("bob",) and steps[1].webhook is not None
    assert steps[1].webhook.format is WebhookFormat.SLACK
    assert steps[2].webhook is not None and steps[2].webhook.secret_env == "HOOK_KEY"
    assert problems(STEPS) == []


def test_the_frozen_chain_keeps_the_phlos_people_as_they_are_now() -> None:
    snapshot = freeze_chain(parse_config(STEPS), "p")
    assert snapshot["policy"]["steps"][0]["phlo"]["to"] == ["alice", "bob"]
    assert "targets" not in snapshot["policy"]["steps"][0]
    assert set(snapshot["contacts"]) == {"alice", "bob"}
    config, policy = thaw_chain(snapshot)
    assert policy.steps[0].phlo is not None and policy.steps[0].phlo.to == ("alice", "bob")
    assert policy.steps[2].webhook == parse_config(STEPS).policies["p"].steps[2].webhook
    assert config.contacts["bob"].phone == "+14155550102"


def test_a_step_paging_people_freezes_as_before() -> None:
    snapshot = freeze_chain(parse_config(STEPS), "p")
    assert set(snapshot["policy"]["steps"][1]) == {
        "targets",
        "channels",
        "wait",
        "recall",
        "webhook",
    }


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "to: [ops]",
            "to: [nobody]",
            'line 15: policies.p.steps[0].phlo.to[0]: unknown contact or team "nobody"',
        ),
        (
            "to: [ops]",
            "to: [weekly]",
            'line 15: policies.p.steps[0].phlo.to[0]: "weekly" is a schedule: '
            "a PHLO step names contacts or teams",
        ),
        ("to: [ops]", "to: []", "line 15: policies.p.steps[0].phlo.to: must not be empty"),
        (
            "https://hooks.example.com/services/T0/B0/x",
            "ftp://hooks.example.com/x",
            "line 19: policies.p.steps[1].webhook.url: must be an http:// or https:// URL "
            "with a host",
        ),
        (
            "http://127.0.0.1:9/hook",
            "http:///hook",
            "line 21: policies.p.steps[2].webhook.url: must be an http:// or https:// URL "
            "with a host",
        ),
        (
            "format: slack",
            "format: teams",
            "line 19: policies.p.steps[1].webhook.format: \"teams\" is not one of 'slack', "
            "'mattermost' or 'json'",
        ),
        (
            "format: json, secret_env: HOOK_KEY",
            "format: json",
            "line 21: policies.p.steps[2].webhook: a json webhook is signed: give secret_env, "
            "the variable with its key",
        ),
        (
            "secret_env: HOOK_KEY",
            "secret_env: 2KEY",
            'line 21: policies.p.steps[2].webhook.secret_env: "2KEY" is not an environment '
            "variable name",
        ),
        (
            "        channels: [sms]\n        webhook",
            "        webhook",
            "line 17: policies.p.steps[1].channels: required",
        ),
    ],
)
def test_every_mistake_is_named_with_its_path_and_line(old: str, new: str, expected: str) -> None:
    assert STEPS.count(old) == 1
    found = problems(STEPS.replace(old, new))
    assert found == [expected]
    with pytest.raises(ConfigError):
        parse_config(STEPS.replace(old, new))


def test_a_step_with_neither_people_nor_a_phlo_nor_a_webhook_still_needs_targets() -> None:
    text = STEPS.replace(f"      - phlo: {{id: {PHLO_ID}, to: [ops]}}\n", "      - wait: 5m\n")
    text = text.replace("      - wait: 5m\n        wait: 5m\n", "      - wait: 5m\n")
    assert problems(text) == [
        "line 15: policies.p.steps[0].targets: required",
        "line 15: policies.p.steps[0].channels: required",
    ]


def test_a_missing_secret_is_reported_by_the_check_but_does_not_refuse_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOOK_KEY")
    assert problems(STEPS) == [
        "line 21: policies.p.steps[2].webhook.secret_env: environment variable HOOK_KEY "
        "is not set (or empty)"
    ]
    assert parse_config(STEPS).policies["p"].steps[2].webhook is not None
