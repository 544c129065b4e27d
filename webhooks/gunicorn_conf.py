"""Gunicorn settings for the receiver, shared by the Procfile, the Dockerfile and compose.

    gunicorn -c python:webhooks.gunicorn_conf webhooks.wsgi:app

Why gevent: with sync or threaded workers each connection holds a thread for
as long as its client takes to send the request, so a handful of clients that
send a body one byte at a time (or never finish their headers) leave no thread
for a real alert. Gunicorn's own advice is a buffering proxy in front or an
async worker; a gevent worker keeps every connection in a cheap greenlet, so
slow clients only wait on themselves. Gunicorn's gevent worker monkey-patches
the process before it loads the app, so psycopg, redis-py and the Celery
producer cooperate (shared.core.db queues SQLite writers for the same reason).

Slow clients are still cut off, so what they can hold stays bounded:
  - headers must arrive within WEB_KEEPALIVE seconds (gunicorn applies its
    keep-alive timeout to reading every request's headers, the first too);
  - the whole body must arrive within WEB_BODY_TIMEOUT seconds, or the client
    gets 408 (BodyDeadline below: gunicorn itself puts no bound on body reads);
  - each worker serves at most WEB_WORKER_CONNECTIONS connections at once.

Metrics: the master sets up multiprocess mode in `on_starting` (see
shared.core.metrics), so a scrape of any worker's /metrics counts every worker.

Environment (all optional): PORT (8000), WEB_CONCURRENCY worker processes (2),
WEB_WORKER_CONNECTIONS (500), WEB_KEEPALIVE (5), WEB_BODY_TIMEOUT (10).
Further gunicorn settings (loggers, access log format...) go in the "server
settings" section as plain lower-case module-level names, exactly as gunicorn
documents them: https://docs.gunicorn.org/en/stable/settings.html
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger(__name__)

# A body larger than this is never buffered here; the app refuses it from its
# Content-Length (413). Matches the default of MAX_BODY_BYTES.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def _positive(name: str, default: int, kind: type = int) -> Any:
    """A positive number (int, or float when `kind` is float) from the environment.

    A bad value stops the server with one line naming the variable, before
    any worker starts.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise SystemExit(f"{name} must be a positive {kind.__name__}, not {raw!r}")
    return value


# -- server settings (read by gunicorn) ----------------------------------------

bind = [f"0.0.0.0:{_positive('PORT', 8000)}"]
worker_class = "gevent"
workers = _positive("WEB_CONCURRENCY", 2)
worker_connections = _positive("WEB_WORKER_CONNECTIONS", 500)
# Also the deadline for a request's headers; never 0 (0 would wait forever).
keepalive = _positive("WEB_KEEPALIVE", 5)
# Under gevent this is only the worker's heartbeat, not a request time limit.
timeout = 30
# No runtime control socket ($HOME/.gunicorn/gunicorn.ctl): nothing uses it, and
# two servers on one host would share its path.
control_socket_disable = True
# The master's own log lines (its DEBUG dump of settings and -e values, worker
# boot errors) get the same phone-number masking as every other process.
logger_class = "shared.core.logging_setup.MaskingGunicornLogger"

# Not a gunicorn setting (upper case names are ignored by gunicorn): used below.
BODY_TIMEOUT_S: float = _positive("WEB_BODY_TIMEOUT", 10, float)


def on_starting(server: Any) -> None:
    """Refuse in the master, once, before any worker boots: public default secrets
    against real Plivo, or an invalid on-call file (shared.startup_checks).

    Exit code 4 is gunicorn's own "app failed to load": nothing restarts it."""
    from shared.core.metrics import prepare_multiprocess
    from shared.core.settings import load_settings
    from shared.startup_checks import start_or_exit

    settings = start_or_exit(load_settings, oncall_config=True, exit_code=4)
    # Before any worker forks (and imports prometheus_client): every worker counts
    # into DATA_DIR/metrics/web, emptied here, and /metrics adds them all up.
    prepare_multiprocess(settings.data_dir, "web")


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: drop its live gauges from the sum (its counters stay)."""
    from shared.core.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def post_worker_init(worker: Any) -> None:
    """Put the body deadline in front of the app each worker loaded; load what routing on
    arrival needs (worker.route_on_arrival); then keep what was loaded out of full
    garbage collections (shared.core.startup_objects)."""
    from shared.core.startup_objects import freeze_startup_objects

    app_config = getattr(worker.wsgi, "config", {})
    max_bytes = app_config.get("MAX_CONTENT_LENGTH") or DEFAULT_MAX_BODY_BYTES
    worker.arrival_router = app_config.get("ROUTE_ON_ARRIVAL")
    worker.wsgi = BodyDeadline(worker.wsgi, BODY_TIMEOUT_S, max_bytes)
    if worker.arrival_router is not None:
        from worker.route_on_arrival import warm

        warm()
    freeze_startup_objects()


# A worker about to exit gives the alerts it is routing this long to reach Plivo.
ROUTING_GRACE_S = 5.0


def worker_exit(server: Any, worker: Any) -> None:
    """A worker exits (a restart, a scale-down): let the first pages it sends for alerts it
    routed on arrival leave first. One cut short is not lost, only slower: its alert was
    stored routed, and its claimed page is settled by the hand-over of sends."""
    router = getattr(worker, "arrival_router", None)
    if router is not None and not router.wait(ROUTING_GRACE_S):
        log.warning(
            "receiver exiting with first pages still being sent; the hand-over of sends takes them"
        )


# -- the body deadline -----------------------------------------------------------

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def bytes_to_buffer(environ: dict[str, Any], max_bytes: int) -> int | None:
    """How many body bytes to read before the app runs; None leaves the request as it is.

    A chunked body is read up to one byte past the limit, so the app still
    sees that it is too large (413). No body, or a declared length over the
    limit, needs no read here.
    """
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return max_bytes + 1
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= 0 or length > max_bytes:
        return None
    return length


class BodyDeadline:
    """WSGI middleware: a request's whole body must arrive within `seconds`.

    The body is read into memory under a gevent timeout before the app runs,
    so a client that promises 5,000 bytes and trickles one a second is
    answered 408 and let go instead of holding its connection forever. The
    app then reads the body from memory, never from the slow socket.
    """

    def __init__(self, app: WsgiApp, seconds: float, max_bytes: int) -> None:
        self.app = app
        self.seconds = seconds
        self.max_bytes = max_bytes

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        import gevent

        size = bytes_to_buffer(environ, self.max_bytes)
        if size is None:
            return self.app(environ, start_response)
        body = None
        with gevent.Timeout(self.seconds, False):
            body = environ["wsgi.input"].read(size)
        if body is None:
            log.warning(
                "request body for %s %s not received within %gs; answered 408",
                environ.get("REQUEST_METHOD"),
                environ.get("PATH_INFO"),
                self.seconds,
            )
            message = f"request body not received within {self.seconds:g}s"
            payload = json.dumps({"error": message, "status": 408}).encode()
            start_response(
                "408 Request Timeout",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)
