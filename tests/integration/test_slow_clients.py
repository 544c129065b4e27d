"""Slow clients cannot stop the receiver: gunicorn run exactly as the Procfile runs it.

An attacker opens many connections that promise a body and send it a byte at a
time, or never finish their headers. A real alert must still be accepted within
a second, and the server must cut those clients off after its configured
timeouts so what they hold stays bounded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import requests

from cli.stack import free_port
from shared.core.db import read_scope
from shared.core.models import Alert
from shared.plivo.signature import sign_request_headers
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
TOKEN = "slow-clients-token"
PLIVO_TOKEN = "slow-clients-plivo-token"
# Short server timeouts for the test; production reads its own from the same variables.
KEEPALIVE_S = 3
BODY_TIMEOUT_S = 3
SLOW_BODIES = 45
PARTIAL_HEADERS = 5
# People on the rota: the receiver answers their texts (and only theirs).
ROTA = [f"+14155550{index}" for index in range(101, 111)]


def oncall_yaml(phones: list[str]) -> str:
    contacts = "".join(
        f'  p{i}: {{phone: "{phone}", channels: [sms]}}\n' for i, phone in enumerate(phones)
    )
    return (
        f"contacts:\n{contacts}"
        "policies:\n  rota:\n    steps:\n      - {targets: [p0], channels: [sms], wait: 5m}\n"
        "default_policy: rota\n"
    )


def procfile_command(process: str = "web") -> str:
    """The command line the Procfile gives `process`."""
    for line in (REPO / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise AssertionError(f"no {process!r} process in the Procfile")


@dataclass
class Web:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def web(
    database_url: str, broker_env: str, redis_client: redis.Redis, tmp_path: Path
) -> Iterator[Web]:
    """The receiver under gunicorn, started with the Procfile's own command line."""
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "REDIS_URL": broker_env,
        "DATA_DIR": str(tmp_path),
        "API_TOKENS": TOKEN,
        "PLIVO_AUTH_TOKEN": PLIVO_TOKEN,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        # One worker process: every slow client lands on the worker the alert needs.
        "WEB_CONCURRENCY": "1",
        "WEB_KEEPALIVE": str(KEEPALIVE_S),
        "WEB_BODY_TIMEOUT": str(BODY_TIMEOUT_S),
    }
    (tmp_path / "metrics").mkdir()
    env["CONFIG_FILE"] = str(tmp_path / "oncall.yaml")
    (tmp_path / "oncall.yaml").write_text(oncall_yaml(ROTA))
    log = tmp_path / "web.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["bash", "-c", f"exec {procfile_command('web')}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    served = Web(f"http://127.0.0.1:{port}", process, log)

    def healthy() -> bool:
        assert process.poll() is None, f"gunicorn exited:\n{served.log_tail()}"
        try:
            return requests.get(f"{served.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, timeout=30, what="gunicorn answering /healthz")
        yield served
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)  # quick shutdown
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@dataclass
class SlowClients:
    """Raw sockets that hang on: bodies trickled a byte a second, or headers never finished."""

    host: str
    port: int
    started: float = 0.0
    sockets: dict[socket.socket, str] = field(default_factory=dict)  # socket -> "body"/"headers"
    received: dict[socket.socket, bytes] = field(default_factory=dict)
    closed_after: dict[socket.socket, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, bodies: int, partial_headers: int) -> None:
        self.started = time.monotonic()
        head = (
            "POST /api/v1/alerts HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\n"
        )
        for kind, count in (("body", bodies), ("headers", partial_headers)):
            for _ in range(count):
                sock = socket.create_connection((self.host, self.port), timeout=5)
                if kind == "body":
                    sock.sendall(f"{head}Content-Length: 5000\r\n\r\n{{{' ' * 59}".encode())
                else:
                    sock.sendall(f"{head}X-Slow: ".encode())
                sock.setblocking(False)
                self.sockets[sock] = kind
                self.received[sock] = b""
        self._thread = threading.Thread(target=self._hang_on, daemon=True)
        self._thread.start()

    def _closed(self, sock: socket.socket) -> None:
        with self._lock:
            self.closed_after.setdefault(sock, time.monotonic() - self.started)

    def _hang_on(self) -> None:
        """Read whatever the server answers; send one more byte a second while open."""
        selector = selectors.DefaultSelector()
        for sock in self.sockets:
            selector.register(sock, selectors.EVENT_READ)
        next_byte = time.monotonic() + 1.0
        while not self._stop.is_set() and len(self.closed_after) < len(self.sockets):
            for key, _ in selector.select(timeout=max(0.0, next_byte - time.monotonic())):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)  # type: ignore[union-attr]
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if data:
                    self.received[sock] += data  # type: ignore[index]
                else:
                    selector.unregister(sock)
                    self._closed(sock)  # type: ignore[arg-type]
            if time.monotonic() >= next_byte:
                next_byte += 1.0
                for sock, kind in self.sockets.items():
                    if sock not in self.closed_after:
                        # OSError: the server let go; the read side records it.
                        with contextlib.suppress(OSError):
                            sock.send(b" " if kind == "body" else b"a")
        selector.close()

    def open_count(self) -> int:
        with self._lock:
            return len(self.sockets) - len(self.closed_after)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def timed(call: Callable[[], requests.Response]) -> tuple[float, requests.Response | None]:
    started = time.monotonic()
    try:
        response = call()
    except requests.RequestException:
        response = None
    return time.monotonic() - started, response


def post_alert(web: Web, summary: str) -> requests.Response:
    return requests.post(
        f"{web.url}/api/v1/alerts",
        json={"summary": summary, "severity": "critical", "recipients": ["+14155550101"]},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )


def queued_tasks(client: redis.Redis, task: str) -> list[list[object]]:
    """The positional args of every `task` message waiting in the broker's queues."""
    found = []
    for key in client.scan_iter():
        if client.type(key) != "list":
            continue
        for raw in client.lrange(key, 0, -1):
            message = json.loads(raw)
            if message.get("headers", {}).get("task") == task:
                found.append(json.loads(base64.b64decode(message["body"]))[0])
    return found


def routed(database_url: str, alert_id: int) -> bool:
    """Whether the alert's routing was claimed (by the receiver itself or a worker)."""
    with read_scope(database_url) as session:
        return session.get(Alert, alert_id).dispatched_at is not None


def test_fifty_slow_clients_do_not_delay_an_alert_and_are_cut_off(
    web: Web, redis_client: redis.Redis, database_url: str
) -> None:
    idle_s, warm = timed(lambda: post_alert(web, "before the slow clients"))
    assert warm is not None and warm.status_code == 202, web.log_tail()

    clients = SlowClients("127.0.0.1", int(web.url.rsplit(":", 1)[1]))
    clients.open(SLOW_BODIES, PARTIAL_HEADERS)
    try:
        accept_s, accepted = timed(lambda: post_alert(web, "while slow clients hang on"))
        hanging_on = clients.open_count()
        health_s, health = timed(lambda: requests.get(f"{web.url}/healthz", timeout=5))
        print(
            f"\naccept: {idle_s:.3f}s idle, {accept_s:.3f}s with "
            f"{SLOW_BODIES + PARTIAL_HEADERS} slow clients; healthz {health_s:.3f}s"
        )
        assert accepted is not None, f"no answer to the alert within 5s ({accept_s:.1f}s)"
        assert accepted.status_code == 202 and accept_s < 1.0, (accepted.status_code, accept_s)
        assert health is not None and health.status_code == 200 and health_s < 1.0, health_s
        assert hanging_on == SLOW_BODIES + PARTIAL_HEADERS

        body = accepted.json()
        assert body["queued"] is True
        # Handed over: routed by the receiver itself while idle (worker.route_on_arrival),
        # or its routing task waiting in the broker for a worker.
        assert routed(database_url, body["id"]) or [body["id"]] in queued_tasks(
            redis_client, "ingest.dispatch_alert"
        )

        # Headers are cut off after the keep-alive timeout, bodies after the body
        # deadline (answered 408) plus the keep-alive spent draining them.
        bound = BODY_TIMEOUT_S + KEEPALIVE_S
        wait_for(lambda: clients.open_count() == 0, timeout=bound + 10, what="slow clients cut off")
        latest = max(clients.closed_after.values())
        print(f"slow clients cut off within {latest:.1f}s (bound {bound}s)")
        assert latest < bound + 5
        for sock, kind in clients.sockets.items():
            answer = clients.received[sock]
            if kind == "body":
                assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
            else:
                assert clients.closed_after[sock] < KEEPALIVE_S + 3
    finally:
        clients.close()


def inbound_help(web: Web, sender: str) -> requests.Response:
    url = f"{web.url}/plivo/sms/inbound"
    params = {
        "From": sender.lstrip("+"),
        "To": "14155550000",
        "Text": "HELP",
        "Type": "sms",
        "MessageUUID": str(uuid.uuid4()),
        "MessageIntent": "help",
    }
    headers = sign_request_headers(PLIVO_TOKEN, url, params)
    return requests.post(url, data=params, headers=headers, timeout=10)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_concurrent_texts_on_sqlite_do_not_freeze_a_worker(
    web: Web, redis_client: redis.Redis
) -> None:
    """Each inbound text talks to Redis inside its SQLite transaction: under gevent a
    second writer waiting for SQLite's lock must not stop the first from finishing."""
    started = time.monotonic()
    with ThreadPoolExecutor(len(ROTA)) as pool:
        answers = list(pool.map(lambda sender: inbound_help(web, sender), ROTA))
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * len(ROTA), web.log_tail()
    assert elapsed < 5, f"{len(ROTA)} texts took {elapsed:.1f}s"
    assert len(queued_tasks(redis_client, "notify.send_reply")) == len(ROTA)  # each one answered
