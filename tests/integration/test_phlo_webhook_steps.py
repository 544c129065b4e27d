"""PHLO and webhook steps through real processes: worker, beat, receiver, simulator, and
real HTTP receivers of the test's own for the webhooks (one that answers, one that
hangs, and a closed port)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig, free_port
from shared.core.db import session_scope
from shared.core.models import Event
from tests.polling import wait_for

PHLO_OK = "5f1c3a2e-1111-4c2b-9a51-0123456789ab"
PHLO_FAILS = "5f1c3a2e-2222-4c2b-9a51-0123456789ab"
PHLO_RETRIED = "5f1c3a2e-3333-4c2b-9a51-0123456789ab"
SECRET = "a-test-receivers-shared-secret"
SENDER = "+14155550000"

CONFIG = """
contacts:
  callee1: {{phone: "+14155550161", channels: [voice]}}
  callee2: {{phone: "+14155550162", channels: [voice]}}
  next:    {{phone: "+14155550163", channels: [sms]}}
  failer:  {{phone: "+14155550164", channels: [voice]}}
  after:   {{phone: "+14155550165", channels: [sms]}}
  retried: {{phone: "+14155550166", channels: [voice]}}
  later:   {{phone: "+14155550167", channels: [sms]}}
  hooked:  {{phone: "+14155550168", channels: [sms]}}
  chatty:  {{phone: "+14155550169", channels: [sms]}}
  down1:   {{phone: "+14155550170", channels: [sms]}}
  hung1:   {{phone: "+14155550171", channels: [sms]}}
  hung2:   {{phone: "+14155550172", channels: [sms]}}
  texts:   {{phone: "+14155550173", channels: [sms]}}
teams:
  callees: {{members: [callee1, callee2]}}
policies:
  phlo:
    steps:
      - phlo: {{id: {phlo_ok}, to: [callees]}}
        wait: 10m
      - {{targets: [next], channels: [sms], wait: 10m}}
  phlo_fails:
    steps:
      - phlo: {{id: {phlo_fails}, to: [failer]}}
        wait: 10m
      - {{targets: [after], channels: [sms], wait: 10m}}
  phlo_retried:
    steps:
      - phlo: {{id: {phlo_retried}, to: [retried]}}
        wait: 10m
      - {{targets: [later], channels: [sms], wait: 10m}}
  signed:
    steps:
      - targets: [hooked]
        channels: [sms]
        webhook: {{url: "{receiver}/signed", format: json, secret_env: STEP_HOOK_SECRET}}
        wait: 10m
  slack:
    steps:
      - targets: [chatty]
        channels: [sms]
        webhook: {{url: "{receiver}/slack", format: slack}}
        wait: 10m
  down:
    steps:
      - targets: [down1]
        channels: [sms]
        webhook:
          {{url: "http://127.0.0.1:{closed}/hook", format: json, secret_env: STEP_HOOK_SECRET}}
        wait: 10m
  hangs:
    steps:
      - targets: [hung1, hung2]
        channels: [sms]
        webhook: {{url: "http://127.0.0.1:{hanging}/hook", format: mattermost}}
        wait: 10m
  texts:
    steps:
      - {{targets: [texts], channels: [sms], wait: 10m}}
routes:
  - {{match: {{labels: {{flow: phlo}}}}, policy: phlo}}
  - {{match: {{labels: {{flow: phlo_fails}}}}, policy: phlo_fails}}
  - {{match: {{labels: {{flow: phlo_retried}}}}, policy: phlo_retried}}
  - {{match: {{labels: {{flow: signed}}}}, policy: signed}}
  - {{match: {{labels: {{flow: slack}}}}, policy: slack}}
  - {{match: {{labels: {{flow: down}}}}, policy: down}}
  - {{match: {{labels: {{flow: hangs}}}}, policy: hangs}}
default_policy: texts
"""


class Recorder(BaseHTTPRequestHandler):
    """A webhook receiver that keeps every post as it arrived: raw body and headers."""

    posts: list[dict[str, object]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.posts.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        return


class Hanging:
    """A receiver that accepts, reads, and never answers: each connection's open and
    close times (the sender gives up on its own read timeout)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections: list[dict[str, float | None]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            seen: dict[str, float | None] = {"opened": time.time(), "closed": None}
            self.connections.append(seen)
            threading.Thread(target=self._hold, args=(conn, seen), daemon=True).start()

    @staticmethod
    def _hold(conn: socket.socket, seen: dict[str, float | None]) -> None:
        with conn:
            while conn.recv(65536):
                pass
            seen["closed"] = time.time()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def receivers():
    Recorder.posts = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    hanging = Hanging()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "hanging": hanging}
    server.shutdown()
    hanging.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker, receivers):
    data_dir: Path = tmp_path_factory.mktemp("steps")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(
        CONFIG.format(
            phlo_ok=PHLO_OK,
            phlo_fails=PHLO_FAILS,
            phlo_retried=PHLO_RETRIED,
            receiver=receivers["url"],
            closed=free_port(),  # nothing listens there
            hanging=receivers["hanging"].port,
        )
    )
    config = StackConfig(
        data_dir=data_dir,
        redis_url=stack_broker,
        with_beat=True,
        extra_env={"CONFIG_FILE": str(config_file), "STEP_HOOK_SECRET": SECRET},
    )
    with Stack(config) as running:
        running.wait_for_workers()
        yield running


@pytest.fixture
def fault(stack):
    """Set a simulator fault for one test; cleared after it, whatever happened."""
    url = f"{stack.simulator_url}/_sim/faults"
    yield lambda body: requests.post(url, json=body, timeout=5).raise_for_status()
    requests.delete(url, timeout=5)


def post_alert(stack, flow, **labels):
    body = {
        "summary": f"{flow} is down",
        "severity": "critical",
        "source": "prometheus",
        "labels": {"flow": flow, **labels},
    }
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json=body,
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def events(stack, alert_id, kind):
    with session_scope(stack.database_url) as session:
        rows = session.scalars(
            select(Event).where(Event.alert_id == alert_id, Event.kind == kind).order_by(Event.id)
        )
        return [(row.at, row.detail) for row in rows]


def runs_of(stack, phlo_id, alert_id):
    runs = requests.get(f"{stack.simulator_url}/_sim/phlo_runs", timeout=5).json()
    return [
        r for r in runs if r["phlo_id"] == phlo_id and r["payload"].get("alert_id") == str(alert_id)
    ]


def messages_to(stack, number):
    messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=5).json()
    return [m for m in messages if m["dst"].lstrip("+") == number.lstrip("+")]


def test_a_phlo_step_runs_for_each_person_with_the_alerts_variables(stack):
    alert_id = post_alert(stack, "phlo", service="db-7")
    runs = wait_for(lambda: len(found := runs_of(stack, PHLO_OK, alert_id)) == 2 and found)
    assert {run["payload"]["to"] for run in runs} == {"+14155550161", "+14155550162"}
    for run in runs:
        payload = run["payload"]
        assert payload["from"] == SENDER
        assert payload["severity"] == "critical"
        assert payload["service"] == "db-7"
        assert payload["summary"] == "phlo is down"
        assert payload["next_numbers"] == "+14155550163"  # the next step's person
        assert f"alert #{alert_id}" in payload["text"]
    recorded = wait_for(
        lambda: len(found := events(stack, alert_id, "escalation.phlo_run")) == 2 and found
    )
    assert {detail["phlo_run_id"] for _, detail in recorded} == {r["phlo_run_id"] for r in runs}
    assert {detail["contact"] for _, detail in recorded} == {"callee1", "callee2"}
    assert events(stack, alert_id, "escalation.phlo_failed") == []
    assert messages_to(stack, "+14155550163") == []  # the chain waits out the step


def test_a_failed_phlo_run_moves_the_chain_on_at_once(stack, fault):
    fault({"status": 404, "paths": [f"/phlo/{PHLO_FAILS}"]})  # the PHLO was deleted
    alert_id = post_alert(stack, "phlo_fails")
    # The step waits 10 minutes: only the failure can have paged the next one by now.
    [page] = wait_for(lambda: messages_to(stack, "+14155550165"))
    assert f"alert #{alert_id}" in page["text"]
    [(_, failed)] = events(stack, alert_id, "escalation.phlo_failed")
    assert failed["contact"] == "failer"
    assert failed["code"] == "http_404"
    assert failed["moved_on"] is True
    [(_, hurried)] = events(stack, alert_id, "escalation.hurried")
    assert hurried["after_step"] == 0
    assert runs_of(stack, PHLO_FAILS, alert_id) == []
    metrics = requests.get(f"{stack.web_url}/metrics", timeout=10).text
    assert 'alert_dispatch_step_phlo_runs_total{result="failed"}' in metrics
    log = (stack.logs_dir / "worker1.log").read_text(errors="replace")
    assert f"alert {alert_id}: PHLO {PHLO_FAILS} run for failer at step 0 failed" in log


def test_a_phlo_run_plivo_fails_is_retried_with_backoff_and_the_chain_stays(stack, fault):
    fault({"status": 503, "paths": [f"/phlo/{PHLO_RETRIED}"]})
    alert_id = post_alert(stack, "phlo_retried")
    wait_for(lambda: events(stack, alert_id, "escalation.phlo_retry"))
    requests.delete(f"{stack.simulator_url}/_sim/faults", timeout=5).raise_for_status()
    [run] = wait_for(lambda: runs_of(stack, PHLO_RETRIED, alert_id))
    [(_, recorded)] = wait_for(lambda: events(stack, alert_id, "escalation.phlo_run"))
    assert recorded["phlo_run_id"] == run["phlo_run_id"]
    assert recorded["attempts"] >= 2
    retries = [detail for _, detail in events(stack, alert_id, "escalation.phlo_retry")]
    assert [r["attempt"] for r in retries] == list(range(1, len(retries) + 1))
    assert events(stack, alert_id, "escalation.phlo_failed") == []
    assert messages_to(stack, "+14155550167") == []


def test_a_json_webhook_step_posts_a_signed_body_beside_the_page(stack):
    alert_id = post_alert(stack, "signed")
    wait_for(lambda: messages_to(stack, "+14155550168"))
    [post] = wait_for(lambda: [p for p in Recorder.posts if p["path"] == "/signed"])
    headers, body = post["headers"], post["body"]
    timestamp = headers["X-Alert-Dispatch-Timestamp"]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert hmac.compare_digest(
        headers["X-Alert-Dispatch-Signature"], f"sha256={expected.hexdigest()}"
    )
    assert abs(time.time() - int(timestamp)) < 300  # fresh: a replay would be refused
    data = json.loads(body)
    assert data["alert"]["id"] == alert_id
    assert (data["alert"]["severity"], data["alert"]["summary"]) == ("critical", "signed is down")
    assert data["ack"]["url"] == f"{stack.web_url}/api/v1/alerts/{alert_id}/ack"
    [(_, posted)] = wait_for(lambda: events(stack, alert_id, "escalation.webhook_posted"))
    assert (posted["status"], posted["attempts"], posted["host"]) == (200, 1, "127.0.0.1")


def test_a_slack_webhook_step_posts_the_alert_line_and_how_to_acknowledge(stack):
    alert_id = post_alert(stack, "slack")
    [post] = wait_for(lambda: [p for p in Recorder.posts if p["path"] == "/slack"])
    text = json.loads(post["body"])["text"]
    assert text.startswith(f"[CRITICAL] slack is down (alert #{alert_id}, prometheus)\n")
    assert f"`alert-dispatch ack {alert_id}`" in text
    assert "X-Alert-Dispatch-Signature" not in post["headers"]


def test_with_the_webhook_receiver_down_the_page_leaves_and_the_post_backs_off(stack):
    alert_id = post_alert(stack, "down")
    wait_for(lambda: messages_to(stack, "+14155550170"))
    retries = wait_for(
        lambda: len(found := events(stack, alert_id, "escalation.webhook_retry")) >= 3 and found
    )
    for attempt, (_, detail) in enumerate(retries[:3], start=1):
        ceiling = 2.0 ** (attempt - 1)  # 1 s, 2 s, 4 s: each attempt waits longer
        assert detail["attempt"] == attempt
        assert ceiling / 2 <= detail["delay_s"] <= ceiling
        assert detail["error"] == "ConnectionError"
    for (at, detail), (next_at, _) in zip(retries, retries[1:], strict=False):
        assert (next_at - at).total_seconds() >= detail["delay_s"] * 0.9
    assert events(stack, alert_id, "escalation.webhook_posted") == []


def test_with_the_webhook_receiver_hanging_every_page_of_the_step_leaves_first(stack, receivers):
    hanging = receivers["hanging"]
    alert_id = post_alert(stack, "hangs")
    pages = [wait_for(lambda n=n: messages_to(stack, n)) for n in ("+14155550171", "+14155550172")]
    # The post is tried again after its own read timeout: the receiver saw two connections.
    wait_for(lambda: len(hanging.connections) >= 2 and hanging.connections[0]["closed"])
    given_up = hanging.connections[0]["closed"]
    assert all(page["created"] < given_up for [page] in pages)
    [(_, retry)] = events(stack, alert_id, "escalation.webhook_retry")[:1]
    assert retry["error"] == "ReadTimeout"


def check(path: Path) -> subprocess.CompletedProcess[str]:
    """`alert-dispatch config check` as typed, where NOT_SET_KEY is not set."""
    env = {key: value for key, value in os.environ.items() if key != "NOT_SET_KEY"}
    return subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", str(path)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_check_names_each_bad_phlo_or_webhook_step_with_its_line(tmp_path):
    head = "contacts:\n  ann: {phone: '+14155550101'}\npolicies:\n  p:\n    steps:\n"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        head + f"      - phlo: {{id: {PHLO_OK}, to: [ann, nobody]}}\n"
        "        wait: 1m\n"
        "      - webhook: {url: 'ftp://chat.example.com/x', format: slack}\n"
        "        wait: 1m\n"
        "default_policy: p\n"
    )
    result = check(bad)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f'{bad}: line 6: policies.p.steps[0].phlo.to[1]: unknown contact or team "nobody"',
        f"{bad}: line 8: policies.p.steps[1].webhook.url: must be an http:// or https:// URL "
        "with a host",
        "2 problem(s)",
    ]
    unset = tmp_path / "unset.yaml"
    unset.write_text(
        head + "      - webhook: {url: 'https://x.example.com/h', format: json, "
        "secret_env: NOT_SET_KEY}\n"
        "        wait: 1m\n"
        "default_policy: p\n"
    )
    result = check(unset)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"{unset}: line 6: policies.p.steps[0].webhook.secret_env: environment variable "
        "NOT_SET_KEY is not set (or empty)",
        "1 problem(s)",
    ]
