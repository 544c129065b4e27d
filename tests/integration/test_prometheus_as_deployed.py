"""A real Prometheus, configured and ruled as deployed, sees every dashboard panel's data.

The stack runs as the Procfile runs it (gunicorn's `web` line with two
workers, a worker with two prefork children, the `beat` line) against the
Plivo simulator. Prometheus is the packaged binary, with the scrape jobs and
the alert rules of deploy/prometheus/ (targets pointed at this machine,
scraped every second). Alerts arrive the way the system's own alerts do, as
Alertmanager webhooks, in two waves (a rate needs two samples of a series):
one answered by a call, one acknowledged by SMS reply, one nobody answers
(its texts undelivered, its chain exhausted); a 429 from Plivo, a maintenance
notice sent and one missed on top. Then:

- `promtool check metrics` finds nothing wrong in a real scrape of each target;
- Prometheus reports every rule of deploy/prometheus/rules loaded and healthy;
- every query of every dashboard panel returns data (the test names the ones
  that do not), and Prometheus counts what was posted exactly.

Skipped, saying how to install it, where Prometheus is not installed.
"""

from __future__ import annotations

import contextlib
import math
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml

from deploy.grafana.catalogue import DASHBOARDS
from shared.core.db import session_scope
from shared.core.enums import AlertStatus, EscalationState
from shared.core.models import Alert
from shared.notices.store import FILE, remember
from tests.integration.test_metrics_as_deployed import TOKEN, Deployment
from tests.integration.test_metrics_catalogue import documented
from tests.integration.test_slow_clients import procfile_command
from tests.polling import wait_for
from tests.unit.deploy.prometheus_server import DEPLOYED, Prometheus
from tests.unit.deploy.tools import require

ALERTMANAGER_TOKEN = "prometheus-as-deployed-am-token"
ANSWERS, IGNORES, TEXTER, SUBSCRIBER = (
    "+14155550301",
    "+14155550302",
    "+14155550303",
    "+14155550311",
)
FLOWS = ("answered", "ignored", "texted")
MISSED_NOTICE = "earlier-window"
WAVES = 2


def oncall_file(now: datetime) -> str:
    """Three policies chosen by the label `flow`; a maintenance notice whose window starts
    during the test, and one that started 20 minutes ago (its start message is missed:
    see `MonitoredDeployment.start`)."""
    notice_start = now + timedelta(seconds=20)
    missed_start = now - timedelta(minutes=20)
    return f"""
contacts:
  answers: {{phone: "{ANSWERS}", channels: [voice]}}
  ignores: {{phone: "{IGNORES}", channels: [sms, voice]}}
  texter:  {{phone: "{TEXTER}", channels: [sms]}}
policies:
  answered:
    steps: [{{targets: [answers], channels: [voice], wait: 60}}]
  ignored:
    steps:
      - {{targets: [ignores], channels: [sms, voice], wait: 2}}
      - {{targets: [ignores], channels: [sms], wait: 2}}
  texted:
    steps: [{{targets: [texter], channels: [sms], wait: 60}}]
routes:
  - {{match: {{labels: {{flow: answered}}}}, policy: answered}}
  - {{match: {{labels: {{flow: ignored}}}}, policy: ignored}}
  - {{match: {{labels: {{flow: texted}}}}, policy: texted}}
default_policy: answered
subscriber_lists:
  watchers:
    numbers: ["{SUBSCRIBER}"]
notices:
  test-window:
    title: Test window
    window:
      start: "{notice_start:%Y-%m-%d %H:%M:%S}"
      duration: 1h
      time_zone: UTC
    reminders: [start]
    audience:
      lists: [watchers]
    templates:
      sms: "{{title}} starts {{start}}."
  {MISSED_NOTICE}:
    title: Earlier window
    window:
      start: "{missed_start:%Y-%m-%d %H:%M:%S}"
      duration: 1h
      time_zone: UTC
    reminders: [start]
    audience:
      lists: [watchers]
    templates:
      sms: "{{title}} started {{start}}."
"""


SCENARIOS = {
    ANSWERS: {"voice": "answer:1"},
    IGNORES: {"voice": "no-answer", "sms": "undelivered:30"},
}


@dataclass
class MonitoredDeployment(Deployment):
    """The Procfile's web, worker and beat, routed by an on-call file."""

    config_file: Path = field(default=Path())

    def env(self) -> dict[str, str]:
        env = super().env()
        env.update(
            {
                "CONFIG_FILE": str(self.config_file),
                "INTEGRATION_TOKENS": f"alertmanager={ALERTMANAGER_TOKEN}",
                "BUNDLE_WINDOW_S": "0",
                "SMS_PER_SECOND": "1",  # two texts at once: one waits for its slot
            }
        )
        return env

    def start(self) -> MonitoredDeployment:
        super().start()
        # Beat knew the earlier window an hour ago, so its start message, 20 minutes
        # late and past NOTICE_GRACE_S (15 min), is a missed send.
        with session_scope(self.env()["DATABASE_URL"]) as session:
            remember(session, MISSED_NOTICE, FILE, datetime.now(UTC) - timedelta(hours=1))
        schedule = self.data_dir / "celerybeat-schedule"
        beat = procfile_command("beat").replace("/tmp/celerybeat-schedule", str(schedule))
        self._spawn("beat", ["bash", "-c", f"exec {beat}"])
        for number, scenario in SCENARIOS.items():
            requests.post(
                f"http://127.0.0.1:{self.simulator_port}/_sim/scenarios",
                json={"number": number, **scenario},
                timeout=5,
            ).raise_for_status()
        return self


@pytest.fixture
def monitored(tmp_path: Path) -> Iterator[tuple[MonitoredDeployment, Prometheus]]:
    require("prometheus")
    require("promtool")
    config_file = tmp_path / "oncall.yaml"
    config_file.write_text(oncall_file(datetime.now(UTC)))
    deployment = MonitoredDeployment(tmp_path, config_file=config_file)
    prometheus = Prometheus(tmp_path / "prometheus-data")
    prometheus.data_dir.mkdir()
    try:
        deployment.start()
        prometheus.start(
            {
                "alert-dispatch": f"127.0.0.1:{deployment.web_port}",
                "alert-dispatch-worker": f"127.0.0.1:{deployment.worker_metrics_port}",
            }
        )
        yield deployment, prometheus
    finally:
        prometheus.stop()
        deployment.stop()


def fire(deployment: Deployment, wave: int) -> dict[str, int]:
    """One Alertmanager group with an alert per flow; returns flow -> alert id."""
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": f"Demo{flow.title()}", "severity": "critical", "flow": flow},
            "annotations": {"summary": f"demo {flow} wave {wave}"},
            "fingerprint": f"{flow}-{wave}",
        }
        for flow in FLOWS
    ]
    body = {"version": "4", "receiver": "alert-dispatch", "status": "firing", "alerts": alerts}
    response = requests.post(
        f"{deployment.web_url}/api/v1/integrations/alertmanager",
        json=body,
        headers={"Authorization": f"Bearer {ALERTMANAGER_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return {flow: item["id"] for flow, item in zip(FLOWS, response.json()["alerts"], strict=True)}


def reply_to_page(deployment: Deployment, number: str, wave: int) -> None:
    """Acknowledge this wave's text the way a person does: its code, sent back by SMS."""
    simulator = f"http://127.0.0.1:{deployment.simulator_port}"

    def codes() -> list[str]:
        messages = requests.get(f"{simulator}/_sim/messages", timeout=5).json()
        texts = [m["text"] for m in messages if m["dst"].lstrip("+") == number.lstrip("+")]
        found = [re.search(r"Reply (\d+)A to acknowledge", text) for text in texts]
        return [match.group(1) for match in found if match]

    ack_code = wait_for(
        lambda: (found := codes()) and len(found) >= wave and found[wave - 1],
        timeout=30,
        interval=0.2,
        what=f"page {wave} to {number}",
    )
    sent = requests.post(
        f"{simulator}/_sim/inbound_sms",
        json={
            "from": number,
            "to": "+14155550000",
            "text": f"{ack_code}A",
            "url": f"{deployment.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    ).json()
    assert sent["status"] == 200, sent


def drive_wave(deployment: Deployment, wave: int) -> None:
    ids = fire(deployment, wave)
    reply_to_page(deployment, TEXTER, wave)

    def settled() -> bool:
        with session_scope(deployment.env()["DATABASE_URL"]) as session:
            rows = {flow: session.get(Alert, alert_id) for flow, alert_id in ids.items()}
            return (
                rows["answered"].status == rows["texted"].status == AlertStatus.ACKNOWLEDGED
                and rows["ignored"].escalation == EscalationState.EXHAUSTED
            )

    wait_for(settled, timeout=45, interval=0.3, what=f"wave {wave} acknowledged and exhausted")


def knock_on_the_ways_in(deployment: Deployment) -> None:
    """What the receiver refuses is counted too: a bad alert, an unsigned Plivo
    callback; and a deploy posted as a PagerDuty change event is stored and counted."""
    web = deployment.web_url
    bad = requests.post(
        f"{web}/api/v1/alerts",
        json={"summary": "", "severity": "critical"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert bad.status_code == 422, bad.text
    unsigned = requests.post(f"{web}/plivo/sms/status", data={"MessageUUID": "x"}, timeout=10)
    assert unsigned.status_code == 403, unsigned.text
    change = {
        "routing_key": TOKEN,
        "payload": {"summary": "deployed checkout v2.3", "source": "ci.example.com"},
    }
    stored = requests.post(f"{web}/v2/change/enqueue", json=change, timeout=10)
    assert stored.status_code == 202, stored.text


def inject_rate_limit(deployment: Deployment) -> threading.Thread:
    """Plivo answers 429 to texts until the worker has counted one: the send slows down
    and retries. Lifted by a watcher rather than after a fixed time, so a slow machine
    still sees its 429 and the waves still settle."""
    faults = f"http://127.0.0.1:{deployment.simulator_port}/_sim/faults"
    requests.post(faults, json={"status": 429, "paths": ["Message"]}, timeout=5).raise_for_status()
    counted = re.compile(
        r'^alert_dispatch_plivo_request_seconds_count\{[^}]*result="rate_limited"', re.M
    )

    def lift_once_counted() -> None:
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                with contextlib.suppress(requests.RequestException):
                    if counted.search(requests.get(deployment.worker_metrics_url, timeout=5).text):
                        return
                time.sleep(0.1)
        finally:
            requests.delete(faults, timeout=5)

    watcher = threading.Thread(target=lift_once_counted, daemon=True)
    watcher.start()
    return watcher


def wait_for_scrapes(prometheus: Prometheus, seconds: float = 2.0) -> None:
    """Until every target was scraped `seconds` after now (scrapes and rules run every second)."""
    after = time.time() + seconds

    def scraped() -> bool:
        samples = prometheus.query('timestamp(up{job=~"alert-dispatch.*"})')
        return len(samples) == 2 and all(float(s["value"][1]) >= after for s in samples)

    wait_for(scraped, timeout=seconds + 15, interval=0.2, what="fresh scrapes")


def panels_without_data(prometheus: Prometheus) -> list[str]:
    """'dashboard / panel: query' for every query that returns nothing, or only NaN."""
    empty = []
    for dashboard in DASHBOARDS:
        for panel in dashboard.panels():
            for query in panel.queries:
                values = [float(item["value"][1]) for item in prometheus.query(query.expr)]
                if not any(math.isfinite(value) for value in values):
                    empty.append(f"{dashboard.uid} / {panel.title}: {query.expr}")
    return empty


def value(prometheus: Prometheus, expr: str) -> float:
    """The single value of `expr`; NaN when Prometheus has none."""
    result = prometheus.query(expr)
    return float(result[0]["value"][1]) if len(result) == 1 else math.nan


def lint(body: str) -> str:
    result = subprocess.run(
        [require("promtool"), "check", "metrics"],
        input=body,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return "" if result.returncode == 0 else result.stdout + result.stderr


def test_rules_load_and_every_panel_has_data(
    monitored: tuple[MonitoredDeployment, Prometheus],
) -> None:
    deployment, prometheus = monitored
    watcher = inject_rate_limit(deployment)
    for wave in range(1, WAVES + 1):
        drive_wave(deployment, wave)
        wait_for_scrapes(prometheus)
    watcher.join(timeout=60)
    knock_on_the_ways_in(deployment)
    notice_sent = "sum(alert_dispatch_notice_sms_total)"
    with contextlib.suppress(AssertionError):
        wait_for(lambda: prometheus.query(notice_sent), timeout=20, what="the notice sent")

    for name, url in (
        ("receiver", f"{deployment.web_url}/metrics"),
        ("worker", deployment.worker_metrics_url),
    ):
        problems = lint(requests.get(url, timeout=5).text)
        assert problems == "", f"promtool check metrics on the {name}'s scrape:\n{problems}"

    rules = prometheus.rules()
    deployed = {
        rule.get("alert") or rule.get("record")
        for path in (DEPLOYED / "rules").glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    }
    assert {rule["name"] for rule in rules} == deployed
    unhealthy = [(rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"]
    assert unhealthy == []

    empty = wait_for_data(prometheus)
    wrong = wrong_counts(prometheus)
    assert (empty, wrong) == ([], {}), "panels without data:\n" + "\n".join(empty)
    # The refusals counted last may need one more scrape to show.
    with contextlib.suppress(AssertionError):
        wait_for(
            lambda: not catalogued_unseen(prometheus) - NOT_DRIVEN_HERE,
            timeout=20,
            what="every catalogued metric scraped",
        )
    unseen = sorted(catalogued_unseen(prometheus) - NOT_DRIVEN_HERE)
    assert unseen == [], f"catalogued metrics Prometheus never saw: {unseen}"


# Catalogued metrics this run makes no traffic for; the path that counts each is
# driven by its own test (named).
NOT_DRIVEN_HERE: frozenset[str] = frozenset(
    {
        "alert_dispatch_breaker_transitions_total",  # test_reply_send_path (circuit open)
        "alert_dispatch_bundled_alerts_total",  # test_storm
        "alert_dispatch_bundles_sent_total",  # test_storm
        "alert_dispatch_reconciled_total",  # test_delivery_faults (timeout, reconciled)
        "alert_dispatch_lookups_deferred_total",  # test_lookup_budget
        "alert_dispatch_replies_withheld_total",  # the reply caps tests
        "alert_dispatch_notice_calls_total",  # test_notice_voice
        "alert_dispatch_notice_whatsapp_total",  # test_notice_whatsapp_phlo
        "alert_dispatch_phlo_runs_total",  # test_notice_whatsapp_phlo
        "alert_dispatch_schedule_gaps_total",  # tests/unit/escalation/test_schedule_targets
        "alert_dispatch_ack_timeouts_total",  # tests/integration/test_ack_timeout
        "alert_dispatch_phone_line_calls_total",  # tests/integration/test_phone_line
        "alert_dispatch_step_phlo_runs_total",  # tests/integration/test_phlo_webhook_steps
        "alert_dispatch_step_webhooks_total",  # tests/integration/test_phlo_webhook_steps
    }
)


def catalogued_unseen(prometheus: Prometheus) -> set[str]:
    """Every metric of the README's catalogue that Prometheus holds no series of."""
    catalogue, _ = documented()
    seen = set(prometheus.label_values("__name__"))
    missing = set()
    for name, (kind, _labels) in catalogue.items():
        names = {f"{name}_count"} if kind == "histogram" else {name}
        if not names & seen:
            missing.add(name)
    return missing


def wrong_counts(prometheus: Prometheus) -> dict[str, tuple[float, float]]:
    """query -> (seen, expected) for each count Prometheus does not see exactly as posted."""
    expected = {
        'sum(alert_dispatch_alerts_accepted_total{source="alertmanager",outcome="created"})': (
            len(FLOWS) * WAVES
        ),
        "sum(alert_dispatch_alerts_unrouted_total)": 0,
        'sum(alert_dispatch_escalations_exhausted_total{policy="ignored"})': WAVES,
        # answered by call and by SMS, every wave; three alerts paged each wave
        "sum(alert_dispatch_time_to_ack_seconds_count)": 2 * WAVES,
        "sum(alert_dispatch_time_to_first_page_seconds_count)": 3 * WAVES,
        'sum(alert_dispatch_alert_actions_total{action="acknowledged"})': 2 * WAVES,
        'sum(alert_dispatch_sms_replies_total{action="ack"})': WAVES,
        'sum(alert_dispatch_call_outcomes_total{status="completed"})': WAVES,
        f'sum(alert_dispatch_notice_sends_missed_total{{notice="{MISSED_NOTICE}"}})': 1,
    }
    seen = {query: value(prometheus, query) for query in expected}
    return {q: (seen[q], want) for q, want in expected.items() if seen[q] != want}


def wait_for_data(prometheus: Prometheus, timeout: float = 15.0) -> list[str]:
    """The panels still without data once `timeout` passed (recording rules and rates
    need an evaluation or two after the last event)."""
    deadline = time.monotonic() + timeout
    while (empty := panels_without_data(prometheus)) and time.monotonic() < deadline:
        wait_for_scrapes(prometheus, 1.0)
    return empty
