"""An alert's incident bridge as people read it: `alert-dispatch alert ID` and /status.

A real receiver over HTTP with the bridge offered and recorded, the Plivo
simulator playing two responders who press 3 on their page, a migrated
database. While both are in the room the CLI and the status page say the
bridge is live and who is in it; once the room is ended they show who left
when, and the recording's link and length, as the callbacks reported them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from cli.main import cli
from cli.stack import SIMULATOR_AUTH_TOKEN, free_port
from shared.core.settings import load_settings
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.conftest import ServedApp
from tests.integration.test_incident_bridge import (
    ALICE,
    BOB,
    behave,
    call_page,
    count,
    open_alert,
    place_call,
    room,
    sim_callbacks,
)
from tests.polling import wait_for
from webhooks.app import create_app

REPO = Path(__file__).resolve().parents[2]
STATUS_TOKEN = "bridge-status-page-token"


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    running = start_in_thread(SimulatorConfig())
    yield running
    running.stop()


@pytest.fixture
def app(sim, database_url: str, broker_env: str, tmp_path: Path) -> Iterator[ServedApp]:
    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,
        DATA_DIR=str(tmp_path),
        API_TOKENS="token-one",
        STATUS_PAGE_TOKEN=STATUS_TOKEN,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PLIVO_AUTH_ID=sim.config.auth_id,
        PLIVO_AUTH_TOKEN=SIMULATOR_AUTH_TOKEN,
        PLIVO_BASE_URL=sim.url,
        INCIDENT_BRIDGE=True,
        INCIDENT_BRIDGE_RECORD=True,
    )
    from worker import enqueue

    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    yield served
    served.stop()


def status_page(app: ServedApp) -> str:
    response = requests.get(
        f"{app.url}/status", headers={"Authorization": f"Bearer {STATUS_TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return response.text


def bridge_block(html: str, alert_id: int) -> str:
    """The bridge part of the alert's card on the page."""
    start = html.index(f'id="bridge-{alert_id}"')
    return html[start : html.index('<table class="timeline">', start)]


def test_the_cli_and_the_status_page_show_the_live_bridge_then_its_recording(
    sim, app, database_url, broker_env, tmp_path
):
    alert_id = open_alert(database_url, "payments")
    name = f"alert-{alert_id}"
    pages = {"alice": call_page(database_url, alert_id, "alice", ALICE)}
    pages["bob"] = call_page(database_url, alert_id, "bob", BOB)
    for person, number in (("alice", ALICE), ("bob", BOB)):
        behave(sim, number, "answer:3")
        place_call(sim, app, pages[person], number)
    wait_for(lambda: count(database_url, "bridge.joined") == 2, what="both in the bridge")
    env = {"DATABASE_URL": database_url, "REDIS_URL": broker_env, "DATA_DIR": str(tmp_path)}

    live = CliRunner().invoke(cli, ["alert", str(alert_id)], env=env)
    assert live.exit_code == 0, live.output
    assert f"incident bridge {name}: live, 2 in it" in live.output
    assert f"alice joined the incident bridge {name}" in live.output
    assert f"bob joined the incident bridge {name}" in live.output
    assert "still in" in live.output and "recording" not in live.output

    page = status_page(app)
    block = bridge_block(page, alert_id)
    assert 'data-live="true"' in block and ">live<" in block
    assert '<span class="inside">alice, bob</span>' in block
    assert "recording of" not in block
    assert f"alice joined the incident bridge {name}" in page  # the timeline row

    requests.post(f"{sim.url}/_sim/conferences/{name}/end", timeout=5).raise_for_status()
    wait_for(lambda: count(database_url, "bridge.recording") == 1, what="the recording")
    wait_for(lambda: count(database_url, "bridge.left") == 2, what="both left")
    [sent] = wait_for(lambda: sim_callbacks(sim, "voice:recording"), what="logged by the simulator")
    url, seconds = sent["params"]["RecordUrl"], sent["params"]["RecordingDuration"]

    ended = subprocess.run(
        [sys.executable, "-m", "cli", "alert", str(alert_id)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ended.returncode == 0, ended.stderr
    out = ended.stdout
    assert f"incident bridge {name}: nobody in it" in out
    assert f", {seconds} s: {url}" in out  # the summary's recording line
    assert f"bridge recording ({seconds} s): {url}" in out  # and the timeline's
    assert f"alice left the incident bridge {name}" in out
    assert "still in" not in out
    assert room(sim, name) is None

    block = bridge_block(status_page(app), alert_id)
    assert 'data-live="false"' in block and "nobody in it" in block
    assert f'<a href="{url}" rel="noreferrer noopener">{url}</a>' in block
    assert block.count('class="member"') == 2 and "still in" not in block

    missing = CliRunner().invoke(cli, ["alert", str(alert_id + 1000)], env=env)
    assert missing.exit_code == 1 and f"no alert {alert_id + 1000}" in missing.output


def test_the_status_page_shows_no_bridge_for_an_alert_nobody_bridged(app, database_url):
    alert_id = open_alert(database_url, "payments")
    page = status_page(app)
    assert f'id="alert-{alert_id}"' in page
    assert f'id="bridge-{alert_id}"' not in page
    refused = requests.get(f"{app.url}/status", timeout=10)
    assert refused.status_code == 401 and "alice" not in refused.text
