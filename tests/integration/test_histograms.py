"""The paging histograms and outcome counters, from real alerts through real processes.

Receiver, worker (two children), beat and the Plivo simulator share one
metrics directory, so one scrape of the receiver shows every process. Three
alerts tell the stories the histograms are for:

- critical, texted (delivered), not acknowledged within its 1 s wait, so the
  tick fires step 2 (texted, delivered), then acknowledged through the API;
- warning, called, answered, acknowledged with 1 on the call;
- error, texted to a number whose carrier refuses it (undelivered, code 30).

Each histogram's _count is checked exactly and its _sum for plausibility, and
the scrape is linted with promtool.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from cli.stack import Stack, StackConfig
from tests.polling import wait_for

CONFIG = """
contacts:
  texter: {phone: "+14155550201", channels: [sms]}
  second: {phone: "+14155550202", channels: [sms]}
  caller: {phone: "+14155550203", channels: [voice]}
policies:
  texts:
    steps:
      - {targets: [texter], channels: [sms], wait: 1}
      - {targets: [second], channels: [sms], wait: 60}
  calls:
    steps:
      - {targets: [caller], channels: [voice], wait: 60}
routes:
  - {match: {labels: {flow: calls}}, policy: calls}
default_policy: texts
"""
CALLER = "+14155550203"
REFUSED = "+14155550204"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    data_dir: Path = tmp_path_factory.mktemp("histograms")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(CONFIG)
    config = StackConfig(
        data_dir=data_dir,
        redis_url=stack_broker,
        with_beat=True,
        extra_env={"CONFIG_FILE": str(config_file), "BUNDLE_WINDOW_S": "0"},
    )
    with Stack(config) as running:
        running.wait_for_workers()
        for number, scenario in (
            (CALLER, {"voice": "answer:1"}),
            (REFUSED, {"sms": "undelivered:30"}),
        ):
            requests.post(
                f"{running.simulator_url}/_sim/scenarios",
                json={"number": number, **scenario},
                timeout=5,
            ).raise_for_status()
        yield running


def auth(stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def post_alert(stack, **body) -> int:
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack), timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def view(stack, alert_id: int) -> dict:
    url = f"{stack.web_url}/api/v1/alerts/{alert_id}"
    return requests.get(url, headers=auth(stack), timeout=5).json()


def states(stack, alert_id: int) -> list[str]:
    return [n["state"] for n in view(stack, alert_id)["notifications"]]


def scrape_text(stack) -> str:
    response = requests.get(f"{stack.web_url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return response.text


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


# (sample, labels, the exact value the three stories must leave)
EXPECTED_COUNTS = [
    ("alert_dispatch_time_to_first_page_seconds_count", {"severity": "critical"}, 1),
    ("alert_dispatch_time_to_first_page_seconds_count", {"severity": "warning"}, 1),
    ("alert_dispatch_time_to_first_page_seconds_count", {"severity": "error"}, 1),
    ("alert_dispatch_delivery_latency_seconds_count", {"channel": "sms"}, 2),
    ("alert_dispatch_delivery_latency_seconds_count", {"channel": "voice"}, 1),
    ("alert_dispatch_time_to_ack_seconds_count", {"severity": "critical"}, 1),
    ("alert_dispatch_time_to_ack_seconds_count", {"severity": "warning"}, 1),
    ("alert_dispatch_escalation_step_lateness_seconds_count", {}, 1),
    ("alert_dispatch_call_outcomes_total", {"outcome": "acknowledged", "status": "completed"}, 1),
]


def counts(found: Samples) -> list[tuple[str, dict[str, str], float]]:
    return [(name, labels, value(found, name, **labels)) for name, labels, _ in EXPECTED_COUNTS]


def wait_until_delivered_or_acknowledged(stack, texted: int, called: int, refused: int) -> None:
    wait_for(
        lambda: states(stack, texted) == ["delivered", "delivered"],
        timeout=30,
        what="both steps of the texted alert delivered",
    )
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts/{texted}/ack",
        json={"by": "ops"},
        headers=auth(stack),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    wait_for(
        lambda: view(stack, called)["status"] == "acknowledged",
        timeout=30,
        what="the call acknowledged with 1",
    )
    wait_for(
        lambda: states(stack, refused) == ["undelivered"],
        timeout=30,
        what="the refused text undelivered",
    )


@pytest.fixture(scope="module")
def scraped(stack) -> str:
    """The receiver's scrape once the three stories are over and observed."""
    texted = post_alert(stack, summary="disk full", severity="critical")
    called = post_alert(stack, summary="db down", severity="warning", labels={"flow": "calls"})
    refused = post_alert(stack, summary="cpu hot", severity="error", recipients=[REFUSED])
    wait_until_delivered_or_acknowledged(stack, texted, called, refused)
    # Observations follow their commits: poll until they are all in one scrape.
    with contextlib.suppress(AssertionError):  # the test's own assertion shows what is missing
        wait_for(
            lambda: counts(samples(scrape_text(stack))) == EXPECTED_COUNTS,
            timeout=20,
            what="every observation in the scrape",
        )
    return scrape_text(stack)


def test_histograms_and_outcome_counters_count_each_story_once(scraped):
    found = samples(scraped)
    assert counts(found) == EXPECTED_COUNTS

    # Sums: plausible seconds, not just counts. The critical alert waited out its
    # 1 s step before anyone acknowledged it.
    first_page = "alert_dispatch_time_to_first_page_seconds_sum"
    assert 0 < value(found, first_page, severity="critical") < 15
    assert 1 <= value(found, "alert_dispatch_time_to_ack_seconds_sum", severity="critical") < 30
    assert 0 < value(found, "alert_dispatch_time_to_ack_seconds_sum", severity="warning") < 30
    assert 0 < value(found, "alert_dispatch_delivery_latency_seconds_sum", channel="sms") < 20
    assert 0 < value(found, "alert_dispatch_delivery_latency_seconds_sum", channel="voice") < 20
    assert 0 <= value(found, "alert_dispatch_escalation_step_lateness_seconds_sum") < 10
    bucket = "alert_dispatch_time_to_ack_seconds_bucket"
    assert value(found, bucket, severity="critical", le="+Inf") == 1
    assert value(found, bucket, severity="critical", le="1.0") == 0

    # Every Plivo request timed, by endpoint and result: three texts and one call.
    timed = "alert_dispatch_plivo_request_seconds_count"
    assert value(found, timed, endpoint="message", result="ok") == 3
    assert value(found, timed, endpoint="call", result="ok") == 1
    assert not [
        labels for name, labels in found if name == timed and ("endpoint", "other") in labels
    ]

    # Delivery rate from counters: delivered / all final, by Plivo's error code.
    outcomes = "alert_dispatch_sms_outcomes_total"
    assert value(found, outcomes, status="delivered", error_code="none") == 2
    assert value(found, outcomes, status="undelivered", error_code="30") == 1


def test_a_real_scrape_passes_promtool(scraped):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    assert "alert_dispatch_plivo_request_seconds_bucket" in scraped
    linted = subprocess.run(
        [promtool, "check", "metrics"], input=scraped, capture_output=True, text=True, timeout=30
    )
    assert (linted.returncode, linted.stdout + linted.stderr) == (0, "")
