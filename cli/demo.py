"""`alert-dispatch demo`: the whole path of one alert, on a machine with nothing installed."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import requests

from cli.stack import Stack, StackConfig, StopSignals

DEMO_RECIPIENT = "+14155550101"

# The chain part of the demo: Alice does not answer, Bob answers and presses 1,
# Carol (the lead) is never called.
DEMO_ONCALL = """
contacts:
  alice: {phone: "+14155550111", channels: [voice]}
  bob:   {phone: "+14155550112", channels: [voice, sms]}
  carol: {phone: "+14155550113", channels: [voice]}
schedules:
  primary:  # a weekly rotation; with more members it hands over every Monday at 09:00
    time_zone: UTC
    layers:
      - name: weekly
        rotation: {members: [alice], shift: 1w, handoff: "09:00", start: 2026-01-05}
policies:
  database:
    steps:
      - {targets: [primary], channels: [voice], wait: 5m}
      - {targets: [bob], channels: [sms, voice], wait: 5m}
      - {targets: [carol], channels: [voice], wait: 5m}
default_policy: database
"""
DEMO_SCENARIOS = {
    "+14155550111": {"voice": "no-answer"},
    "+14155550112": {"voice": "answer:1"},
    "+14155550113": {"voice": "answer:1"},
}
CHAIN_ALERT = {
    "summary": "Replica lag over 5 minutes",
    "severity": "critical",
    "source": "demo",
    "labels": {"service": "db-cluster-1"},
}

DEMO_ALERT = {
    "summary": "Primary database unreachable",
    "severity": "critical",
    "source": "demo",
    "dedup_key": "demo-db-down",
    "details": {"host": "db1:5432"},
    "recipients": [DEMO_RECIPIENT],
}


def describe(event: dict[str, Any]) -> str | None:
    """One line of timeline for an event, or None for bookkeeping nobody needs to see."""
    kind, detail = event["kind"], event["detail"]
    if kind == "alert.accepted":
        return f"alert accepted ({detail.get('severity')}): {detail.get('summary')}"
    if kind == "notification.planned":
        channel = "call" if detail.get("channel") == "voice" else "SMS"
        return f"{channel} to {detail.get('contact') or 'recipient'} planned"
    if kind == "notification.sending":
        return (
            "call requested from Plivo"
            if detail.get("channel") == "voice"
            else ("SMS handed to Plivo")
        )
    if kind == "notification.queued" and detail.get("request_uuid"):
        return f"Plivo is ringing: request {detail['request_uuid']}"
    if kind == "notification.queued" and detail.get("reason") == "plivo accepted":
        return f"Plivo accepted it: message {detail.get('message_uuid')}"
    if kind == "callback.sms_status":
        status = detail.get("Status")
        extra = f" (error {detail['ErrorCode']})" if detail.get("ErrorCode") else ""
        return f"delivery report: {status}{extra}"
    if kind == "escalation.step_fired":
        targets = ", ".join(detail["targets"])
        return f"step {detail['step'] + 1} of {detail['policy']}: paging {targets}"
    if kind == "escalation.hurried":
        return f"moving on at once: {detail.get('reason')}"
    if kind == "call.answered":
        return "call answered"
    if kind == "call.keypress":
        return f"key pressed: {detail.get('digit')}"
    if kind == "call.hangup":
        return f"call ended: {detail.get('CallStatus')} ({detail.get('HangupCause')})"
    if kind == "alert.acknowledged":
        return f"ACKNOWLEDGED by {detail.get('by')} via {detail.get('via')}"
    if kind == "notifications.cancelled":
        return f"{detail.get('count')} queued notification(s) cancelled"
    if kind.startswith("notification.") and (
        str(detail.get("reason", "")).startswith(("plivo", "call", "not reached"))
    ):
        return None  # the callback line already says it
    if kind.startswith("notification."):
        return f"notification {kind.split('.', 1)[1]} ({detail.get('reason')})"
    return kind


def follow_timeline(
    stack: Stack, alert_id: int, timeout: float, *, until_acknowledged: bool = False
) -> str | None:
    """Print the alert's timeline as it happens; the final notification state
    (or the alert's status, when following a chain to its acknowledgement)."""
    headers = {"Authorization": f"Bearer {stack.config.api_token}"}
    seen: set[int] = set()
    started: datetime | None = None
    deadline = time.monotonic() + timeout
    final = None
    while time.monotonic() < deadline:
        view = requests.get(
            f"{stack.web_url}/api/v1/alerts/{alert_id}", headers=headers, timeout=5
        ).json()
        for event in view["timeline"]:
            if event["id"] in seen:
                continue
            seen.add(event["id"])
            at = datetime.fromisoformat(event["at"])
            started = started or at
            line = describe(event)
            if line:
                click.echo(f"  +{(at - started).total_seconds():6.2f}s  {line}")
        if until_acknowledged:
            if view["status"] == "acknowledged" and not any(
                n["state"] in ("sending", "queued", "sent") for n in view["notifications"]
            ):
                return view["status"]
            time.sleep(0.2)
            continue
        states = {n["state"] for n in view["notifications"]}
        if states and states <= {"delivered", "undelivered", "failed", "cancelled"}:
            final = states.pop() if len(states) == 1 else ",".join(sorted(states))
            break
        time.sleep(0.2)
    return final


def run_chain(stack: Stack, timeout: float) -> bool:
    """The escalation part: a routed alert, an unanswered call, a keypress that ends it."""
    for number, scenario in DEMO_SCENARIOS.items():
        requests.post(
            f"{stack.simulator_url}/_sim/scenarios", json={"number": number, **scenario}, timeout=5
        ).raise_for_status()
    click.echo("\nNow an alert with no recipients: routing picks the 'database' policy")
    click.echo(
        "(alice, on call in the primary schedule: call; bob: SMS + call; carol: call). "
        "Alice will not answer; Bob presses 1."
    )
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json=CHAIN_ALERT,
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    alert_id = response.json()["id"]
    click.echo(f"202 Accepted: alert #{alert_id}\n\nTimeline:")
    status = follow_timeline(stack, alert_id, timeout, until_acknowledged=True)
    calls = requests.get(f"{stack.simulator_url}/_sim/calls", timeout=5).json()
    called = sorted({c["to"] for c in calls})
    click.echo(f"\nCalls Plivo placed: {', '.join(called) or 'none'} (carol's number never rang)")
    if status != "acknowledged":
        click.echo(f"The chain did not end acknowledged (status: {status}).")
        return False
    return True


def data_dir_problem(data_dir: Path) -> str | None:
    """Create `data_dir` (parents too); what is wrong with it, in a few words, or None.

    The demo writes its database, logs, Redis socket and on-call file there: a path
    that cannot hold them is said in one line before anything starts."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        return "not a directory"
    except NotADirectoryError:
        return "a part of the path is a file, not a directory"
    except OSError as exc:
        return f"cannot create it: {exc.strerror or exc}"
    if not os.access(data_dir, os.W_OK | os.X_OK):
        return "not writable"
    return None


def run_demo(*, serve: bool, data_dir: Path | None, timeout: float) -> int:
    """The demo's exit status: 0 when it ran (or was stopped by Ctrl-C, SIGTERM or
    SIGHUP, which all stop every process it started), 1 when it failed, 2 when
    `data_dir` cannot be used."""
    if data_dir is not None:
        problem = data_dir_problem(data_dir)
        if problem:
            click.echo(f"alert-dispatch: demo: --data-dir {data_dir}: {problem}", err=True)
            return 2
    with StopSignals() as signals:
        owned_tmp = None
        try:
            if data_dir is None:
                owned_tmp = tempfile.TemporaryDirectory(prefix="alert-dispatch-demo-")
                data_dir = Path(owned_tmp.name)
            return _run(data_dir, serve=serve, timeout=timeout, signals=signals)
        except KeyboardInterrupt:
            return 0
        finally:
            if owned_tmp is not None:
                owned_tmp.cleanup()


def _run(data_dir: Path, *, serve: bool, timeout: float, signals: StopSignals) -> int:
    click.echo("Starting embedded Redis, the Plivo simulator, the receiver, a worker and beat...")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(DEMO_ONCALL)
    stack = Stack(
        StackConfig(data_dir=data_dir, with_beat=True, extra_env={"CONFIG_FILE": str(config_file)})
    )
    try:
        stack.start()
        stack.wait_for_workers()
        click.echo(f"  receiver  {stack.web_url}   simulator  {stack.simulator_url}")
        click.echo(f"  logs      {stack.logs_dir}")
        click.echo(f"\nPosting a critical alert for {DEMO_RECIPIENT} to /api/v1/alerts ...")
        response = requests.post(
            f"{stack.web_url}/api/v1/alerts",
            json=DEMO_ALERT,
            headers={"Authorization": f"Bearer {stack.config.api_token}"},
            timeout=10,
        )
        if response.status_code != 202:
            click.echo(f"the receiver refused the alert: {response.status_code} {response.text}")
            return 1
        alert_id = response.json()["id"]
        click.echo(f"202 Accepted: alert #{alert_id}\n\nTimeline:")
        final = follow_timeline(stack, alert_id, timeout)
        click.echo(f"\nMetrics: {stack.web_url}/metrics")
        metrics = requests.get(f"{stack.web_url}/metrics", timeout=5).text
        for line in metrics.splitlines():
            if line.startswith("alert_dispatch_") and "_total" in line:
                click.echo(f"  {line}")
        if final != "delivered":
            click.echo(f"\nThe SMS did not reach 'delivered' (final: {final}).")
            return 1
        click.echo("\nThe SMS was delivered.")
        if not run_chain(stack, timeout):
            return 1
        if serve:
            click.echo(
                "\nEverything keeps running. Try:\n"
                f"  curl -H 'Authorization: Bearer {stack.config.api_token}' "
                f'-H \'Content-Type: application/json\' -d \'{{"summary":"disk full",'
                f'"recipients":["+14155550102"]}}\' {stack.web_url}/api/v1/alerts\n'
                f"  curl {stack.simulator_url}/_sim/messages\n"
                "Press Ctrl-C to stop."
            )
            while True:
                time.sleep(1)
        return 0
    except KeyboardInterrupt:
        name = signals.received.name if signals.received else "interrupted"
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            click.echo(f"\n{name}: stopping every process the demo started...")
        return 0
    except RuntimeError as exc:
        click.echo(f"demo failed: {exc}", err=True)
        return 1
    finally:
        signals.stopping()
        stack.stop()
