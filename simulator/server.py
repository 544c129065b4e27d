"""Running the simulator: in the foreground for people, in a thread for tests.

A threaded werkzeug server, because callbacks come back into the application
while the application may be calling the API again, and a stalled request (the
`timeout_after_receive` fault) must not block everything else.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from simulator.app import create_app, simulator_of
from simulator.config import SimulatorConfig
from simulator.state import SimulatorState

log = logging.getLogger(__name__)

# How often the serving loop checks for shutdown; small so tests stop quickly.
SHUTDOWN_POLL_S = 0.05


class _QuietHandler(WSGIRequestHandler):
    """No per-request access log: tests would drown in it."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass
class RunningSimulator:
    """A simulator serving in a background thread; `stop()` ends it and its workers."""

    url: str
    app: Flask
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def state(self) -> SimulatorState:
        return simulator_of(self.app).state

    @property
    def config(self) -> SimulatorConfig:
        return simulator_of(self.app).config

    @property
    def api_root(self) -> str:
        """`<url>/v1/Account/<auth_id>`: where a Plivo client's base URL points."""
        return f"{self.url}/v1/Account/{self.config.auth_id}"

    def stop(self) -> None:
        # Workers first: it also releases stalled requests, so shutdown does not wait on them.
        simulator_of(self.app).stop()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def __enter__(self) -> RunningSimulator:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_in_thread(
    config: SimulatorConfig | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    quiet: bool = True,
) -> RunningSimulator:
    """Serve on `host:port` (0 picks a free port) in a daemon thread and return at once."""
    app = create_app(config or SimulatorConfig())
    handler = _QuietHandler if quiet else WSGIRequestHandler
    try:
        server = make_server(host, port, app, threaded=True, request_handler=handler)
    except BaseException:
        simulator_of(app).stop()
        raise
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SHUTDOWN_POLL_S},
        name="sim-http",
        daemon=True,
    )
    thread.start()
    return RunningSimulator(
        url=f"http://{host}:{server.server_port}", app=app, server=server, thread=thread
    )


def serve(config: SimulatorConfig | None = None, host: str = "127.0.0.1", port: int = 8010) -> None:
    """Serve in the foreground until interrupted, then stop cleanly."""
    app = create_app(config or SimulatorConfig())
    server = make_server(host, port, app, threaded=True)
    log.info("Plivo simulator listening on http://%s:%d", host, server.server_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        simulator_of(app).stop()
        server.server_close()
