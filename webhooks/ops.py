"""Operations endpoints: /metrics for Prometheus, /healthz for load balancers.

/healthz also says whether Plivo's callbacks are being refused because they
were signed for another URL than PUBLIC_BASE_URL ("callbacks" field). That
does not change the status code: the process is alive and restarting it would
not help; the field is for the operator, who must fix the configuration.
"""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, Response, current_app, jsonify

from shared.core.db import ping
from shared.core.metrics import render_metrics
from shared.core.redis_url import redis_from_url
from webhooks.live_gauges import LiveGauges
from webhooks.plivo_callbacks import callbacks_health

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    settings = current_app.config["SETTINGS"]
    live = LiveGauges(settings.effective_database_url, current_app.config["REDIS_URL"], settings)
    body, content_type = render_metrics(extra=[live])
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    checks: dict[str, str] = {}
    callbacks = "unknown"
    settings = current_app.config["SETTINGS"]
    try:
        ping(settings.effective_database_url)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy, whatever the driver raised
        log.warning("health check: database: %s", exc)
        checks["database"] = "unavailable"
    try:
        client = redis_from_url(current_app.config["REDIS_URL"], socket_timeout=2)
        client.ping()
        callbacks = callbacks_health(client)
        client.close()
        checks["redis"] = "ok"
    except (redis.RedisError, OSError) as exc:
        log.warning("health check: redis: %s", exc)
        checks["redis"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks, "callbacks": callbacks}
    return jsonify(body), 200 if healthy else 503
