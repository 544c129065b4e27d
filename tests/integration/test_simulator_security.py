"""The simulator is no signing oracle: its own credentials, loopback, and one receiver.

Every test runs the simulator as its real command (`python -m cli simulator`)
with tiny real HTTP listeners standing for the receiver it was configured with
and for a foreign host it must never reach.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from flask import Flask, request
from werkzeug.serving import make_server

from cli.stack import free_port
from shared.plivo.signature import verify_v3
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
SIM_ID, SIM_TOKEN = "MASIMULATOR000000000", "simulator-auth-token"
REAL_ID, REAL_TOKEN = "MAREALACCOUNT0000001", "r3al-plivo-token"
SECRET_BODY = "internal-only: do not leak"


class Listener:
    """A real HTTP server that records every request it gets and answers SECRET_BODY."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        app = Flask("listener")
        app.add_url_rule("/", "root", self._record, methods=["GET", "POST"])
        app.add_url_rule("/<path:_p>", "any", self._record, methods=["GET", "POST"])
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def _record(self, _p: str = "") -> str:
        with self._lock:
            self.seen.append(
                {
                    "url": request.url,
                    "form": dict(request.form),
                    "headers": dict(request.headers),
                    "method": request.method,
                }
            )
        return SECRET_BODY

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.seen)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.stop()


@pytest.fixture
def foreign() -> Iterator[Listener]:
    listener = Listener()
    yield listener
    listener.stop()


def start_simulator(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "simulator", "--port", str(port), *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert process.poll() is None, "the simulator exited"
        try:
            return requests.get(f"{url}/_sim/health", timeout=2).ok
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=60, what="the simulator answering")
    except BaseException:
        stop(process)
        raise
    return process, url


def stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture
def simulator(receiver: Listener) -> Iterator[str]:
    process, url = start_simulator("--receiver-url", receiver.url)
    yield url
    stop(process)


def inbound(sim: str, **target: str) -> requests.Response:
    body = {"from": "+14155550101", "to": "+14155550000", "text": "4A", **target}
    return requests.post(f"{sim}/_sim/inbound_sms", json=body, timeout=10)


def test_inbound_sms_to_a_foreign_url_is_refused_and_nothing_is_posted(
    simulator: str, receiver: Listener, foreign: Listener
) -> None:
    answer = inbound(simulator, url=f"{foreign.url}/plivo/sms/inbound")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("url is not on the configured receiver")
    for url in ("http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"):
        assert inbound(simulator, url=url).status_code == 400
    assert inbound(simulator, path=f"//{foreign.url[7:]}/x").status_code == 400
    assert inbound(simulator, path=f"{foreign.url}/x").status_code == 400
    # Answered synchronously: had anything been sent, it would have arrived by now.
    assert foreign.requests() == []
    assert receiver.requests() == []
    assert requests.get(f"{simulator}/_sim/callbacks", timeout=5).json() == []


def test_inbound_sms_reaches_the_receiver_signed_and_its_body_is_not_returned(
    simulator: str, receiver: Listener
) -> None:
    by_path = inbound(simulator, path="/plivo/sms/inbound")
    by_url = inbound(simulator, url=f"{receiver.url}/plivo/sms/inbound")
    for answer in (by_path, by_url):
        assert answer.status_code == 200
        assert answer.json()["status"] == 200
        assert SECRET_BODY not in answer.text
    assert len(receiver.requests()) == 2
    for seen in receiver.requests():
        assert verify_v3(
            SIM_TOKEN,
            seen["url"],
            seen["headers"]["X-Plivo-Signature-V3-Nonce"],
            seen["form"],
            seen["headers"]["X-Plivo-Signature-V3"],
            "POST",
        )


def test_api_callbacks_go_to_the_receiver_only_and_their_bodies_stay_hidden(
    simulator: str, receiver: Listener, foreign: Listener
) -> None:
    root = f"{simulator}/v1/Account/{SIM_ID}"
    for url in (f"{foreign.url}/status", f"{receiver.url}/status"):
        sent = requests.post(
            f"{root}/Message/",
            auth=(SIM_ID, SIM_TOKEN),
            timeout=10,
            json={"src": "+14155550000", "dst": "+14155550101", "text": "x", "url": url},
        )
        assert sent.status_code == 202
    call = requests.post(
        f"{root}/Call/",
        auth=(SIM_ID, SIM_TOKEN),
        timeout=10,
        json={"from": "+14155550000", "to": "+14155550102", "answer_url": f"{foreign.url}/answer"},
    )
    assert call.status_code == 201

    def settled() -> list[dict[str, Any]] | None:
        log = requests.get(f"{simulator}/_sim/callbacks", timeout=5).json()
        delivered = [c for c in log if c["url"].startswith(receiver.url)]
        return log if len(delivered) >= 3 and any("voice" in c["kind"] for c in log) else None

    log = wait_for(settled, timeout=30, what="callbacks settled")
    refused = [c for c in log if c["url"].startswith(foreign.url)]
    assert refused and all(
        c["error"].startswith("refused: not on the configured receiver") for c in refused
    )
    assert foreign.requests() == []
    assert SECRET_BODY not in requests.get(f"{simulator}/_sim/callbacks", timeout=5).text


def test_the_simulator_ignores_the_apps_plivo_credentials(receiver: Listener) -> None:
    process, sim = start_simulator(
        "--receiver-url",
        receiver.url,
        env={"PLIVO_AUTH_ID": REAL_ID, "PLIVO_AUTH_TOKEN": REAL_TOKEN},
    )
    try:
        body = {
            "src": "+14155550000",
            "dst": "+14155550101",
            "text": "x",
            "url": f"{receiver.url}/status",
        }
        real = requests.post(
            f"{sim}/v1/Account/{REAL_ID}/Message/",
            json=body,
            auth=(REAL_ID, REAL_TOKEN),
            timeout=10,
        )
        assert real.status_code == 401
        own = requests.post(
            f"{sim}/v1/Account/{SIM_ID}/Message/", json=body, auth=(SIM_ID, SIM_TOKEN), timeout=10
        )
        assert own.status_code == 202
        [first, *_] = wait_for(receiver.requests, timeout=30, what="a status callback")
        args = (
            first["url"],
            first["headers"]["X-Plivo-Signature-V3-Nonce"],
            first["form"],
            first["headers"]["X-Plivo-Signature-V3"],
            "POST",
        )
        assert verify_v3(SIM_TOKEN, *args)
        assert not verify_v3(REAL_TOKEN, *args)
    finally:
        stop(process)


def test_the_simulators_own_variables_set_its_account(receiver: Listener) -> None:
    own_id, own_token = "MAOWNSIMULATOR000001", "own-sim-token"
    process, sim = start_simulator(
        "--receiver-url",
        receiver.url,
        env={"SIMULATOR_AUTH_ID": own_id, "SIMULATOR_AUTH_TOKEN": own_token},
    )
    try:
        answer = requests.get(f"{sim}/v1/Account/{own_id}/", auth=(own_id, own_token), timeout=10)
        assert answer.status_code == 200
    finally:
        stop(process)


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_the_simulator_listens_on_loopback_by_default(simulator: str) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    port = int(simulator.rsplit(":", 1)[1])
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{address}:{port}/_sim/health", timeout=5)


# --------------------------------------------------------------------------- docker-compose


class _DuplicateKeys(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        keys = [key.value for key, _value in node.value if key.value != "<<"]
        duplicated = {key for key in keys if keys.count(key) > 1}
        assert not duplicated, f"keys defined twice on line {node.start_mark.line + 1}"
        return super().construct_mapping(node, deep)


def compose() -> dict[str, Any]:
    return yaml.load((REPO / "docker-compose.yml").read_text(), Loader=_DuplicateKeys)  # noqa: S506


def test_compose_runs_the_simulator_for_development_only_and_apart_from_the_app() -> None:
    services = compose()["services"]
    sim = services["simulator"]
    assert sim["profiles"] == ["dev"]
    assert not any(name.startswith("PLIVO_") for name in sim.get("environment", {}))
    assert "DATABASE_URL" not in sim.get("environment", {})  # not the app's anchor
    assert sim["environment"]["SIMULATOR_RECEIVER_URL"] == "http://web:8000"
    assert all(str(port).startswith("127.0.0.1:") for port in sim.get("ports", []))
    for name, service in services.items():
        if name != "simulator":
            assert "dev" not in service.get("profiles", [])
    assert re.search(r"\bsimulator:8010\b", compose()["x-app"]["environment"]["PLIVO_BASE_URL"])


def test_docker_compose_accepts_the_file() -> None:
    try:
        result = subprocess.run(
            ["docker-compose", "-f", "docker-compose.yml", "config", "-q"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except FileNotFoundError:
        pytest.skip("docker-compose is not installed")
    assert result.returncode == 0, result.stderr
