"""The official `pagerduty` client pages through the receiver behind a TLS-terminating proxy.

The client refuses any base URL that is not https, so the documented set-up
(docs/producers.md, "PagerDuty clients and https") puts a TLS terminator in
front of the receiver. Here that terminator is a small HTTPS proxy made in the
test with a throw-away self-signed certificate, standing in for Caddy.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pagerduty
import pytest
import requests
from sqlalchemy import select

from shared.core.db import session_scope
from shared.core.models import Alert
from tests.conftest import ServedApp

ROUTING_KEY = "token-one"  # the `receiver` fixture's API token; `pagerduty` falls back to it
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "upgrade",
    "host",
    "proxy-connection",
    "content-length",
}


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with the openssl CLI, valid for one day."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class TlsTerminator:
    """HTTPS in front, plain HTTP to the receiver behind, with X-Forwarded-* set like Caddy."""

    def __init__(self, upstream: str, cert: Path, key: Path) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
                length = int(self.headers.get("Content-Length") or 0)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                headers.update(
                    {
                        "X-Forwarded-Proto": "https",
                        "X-Forwarded-Host": self.headers.get("Host", ""),
                        "X-Forwarded-For": self.client_address[0],
                    }
                )
                answer = requests.post(
                    upstream + self.path, data=self.rfile.read(length), headers=headers, timeout=30
                )
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                """Quiet: pytest shows the receiver's own logs."""

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):  # type: ignore[no-untyped-def]
                sock, address = super().get_request()
                return context.wrap_socket(sock, server_side=True), address

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"https://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def tls_receiver(receiver: ServedApp, tmp_path: Path) -> Iterator[tuple[TlsTerminator, Path]]:
    cert, key = self_signed_certificate(tmp_path)
    terminator = TlsTerminator(receiver.url, cert, key)
    yield terminator, cert
    terminator.stop()


def stored_alerts(app: ServedApp) -> list[Alert]:
    with session_scope(app.settings.effective_database_url) as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def test_official_client_pages_through_the_tls_terminated_receiver(receiver, tls_receiver):
    terminator, cert = tls_receiver
    client = pagerduty.EventsApiV2Client(
        ROUTING_KEY,
        base_url=terminator.url,
        verify=ssl.create_default_context(cafile=str(cert)),
        trust_env=False,
    )
    seen: list[int] = []
    client.event_hooks["response"].append(lambda response: seen.append(response.status_code))

    key = client.trigger(
        "Disk full on db1", "db1.example.com", dedup_key="db1-disk", severity="critical"
    )

    assert key == "db1-disk"
    assert seen == [202]
    [alert] = stored_alerts(receiver)
    assert (alert.summary, alert.severity, alert.source, alert.dedup_key, alert.status) == (
        "Disk full on db1",
        "critical",
        "pagerduty",
        "db1-disk",
        "triggered",
    )

    assert client.resolve("db1-disk") == "db1-disk"
    assert [a.status for a in stored_alerts(receiver)] == ["resolved"]


def test_official_client_refuses_a_plain_http_base_url(receiver):
    with pytest.raises(pagerduty.UrlError, match="https"):
        pagerduty.EventsApiV2Client(ROUTING_KEY, base_url=receiver.url)
    assert stored_alerts(receiver) == []
