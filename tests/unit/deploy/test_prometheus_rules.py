"""The alert rules in deploy/prometheus/ are valid, unit-tested one by one, and page well.

promtool checks the configuration and the rules and runs the rule unit tests
(deploy/prometheus/tests/): each alert fires on the series that describe its
failure, with the text the on-call person will read, and stays quiet where it
must. The checks below make sure no rule is left without such a test and that
every alert carries what Alertmanager and the receiver route and page on.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.sending.breaker import BreakerState
from tests.unit.deploy.tools import require
from worker.sending.providers import BACKUP, PRIMARY

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
SEVERITIES = {"critical", "warning", "none"}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require("promtool"), *args], capture_output=True, text=True, timeout=60, cwd=REPO
    )


def alerting_rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [rule for rule in group["rules"] if "alert" in rule]
    return rules


def alerts_seen_firing() -> set[tuple[str, str]]:
    """(alertname, severity) pairs some rule test expects to fire."""
    found = set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                for expected in check.get("exp_alerts") or []:
                    found.add((check["alertname"], expected["exp_labels"]["severity"]))
    return found


def test_there_are_rules_and_tests() -> None:
    assert RULE_FILES and TEST_FILES


def test_promtool_accepts_the_configuration_and_its_rules() -> None:
    result = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    for path in RULE_FILES:
        assert f"Checking {PROMETHEUS_DIR / 'rules' / path.name}" in result.stdout


def test_rule_unit_tests_pass() -> None:
    result = promtool("test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(TEST_FILES), result.stdout


def test_every_alert_and_severity_has_a_test_that_sees_it_fire() -> None:
    rules = {(rule["alert"], rule["labels"]["severity"]) for rule in alerting_rules()}
    assert rules - alerts_seen_firing() == set()


@pytest.mark.parametrize("rule", alerting_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_says_what_broke_and_what_to_do(rule: dict[str, Any]) -> None:
    labels, annotations = rule["labels"], rule["annotations"]
    assert labels["severity"] in SEVERITIES
    assert labels["service"] == "alert-dispatch"  # the on-call file routes on it
    for name in ("summary", "description", "runbook"):
        assert annotations.get(name, "").strip(), f"{rule['alert']}: no {name}"
    # The summary is the text of the SMS: it must fit one message with room to spare.
    assert len(annotations["summary"]) <= 100, rule["alert"]


def test_the_required_alerts_exist() -> None:
    names = {rule["alert"] for rule in alerting_rules()}
    assert {
        "PlivoSmsDeliveryRateLow",
        "PlivoVoiceAnswerRateLow",
        "PlivoApiSlow",
        "PlivoPhloFailures",
        "PlivoApiDown",
        "PlivoFailedMessagesAboveBaseline",
        "PlivoBackupAccountInUse",
        "AlertDispatchQueueStalled",
        "AlertDispatchWorkerDown",
        "AlertDispatchQueueNotDraining",
        "AlertDispatchBeatNotTicking",
        "AlertDispatchReceiverDown",
        "AlertDispatchChainExhausted",
        "AlertDispatchAlertUnrouted",
        "AlertDispatchOnCallNumberOptedOut",
        "AlertDispatchPageSkippedOptedOut",
        "Watchdog",
    } <= names


def test_scrape_jobs_the_rules_name_are_configured() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    rules_text = "".join(path.read_text() for path in RULE_FILES)
    for job in ("alert-dispatch", "alert-dispatch-worker"):
        assert f'job="{job}"' in rules_text
        assert job in jobs


def test_rules_name_the_accounts_and_states_the_code_uses() -> None:
    rules_text = "".join(path.read_text() for path in RULE_FILES)
    assert f'provider="{PRIMARY}"' in rules_text
    assert f'provider="{BACKUP}"' in rules_text
    assert f'state="{BreakerState.OPEN}"' in rules_text
