"""Operations endpoints: /metrics for Prometheus, /healthz for load balancers."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, Response, current_app, jsonify

from shared.db import ping
from shared.metrics import render_metrics

log = logging.getLogger(__name__)

bp = Blueprint("ops", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)


@bp.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    checks: dict[str, str] = {}
    settings = current_app.config["SETTINGS"]
    try:
        ping(settings.effective_database_url)
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy, whatever the driver raised
        log.warning("health check: database: %s", exc)
        checks["database"] = "unavailable"
    try:
        client = redis.Redis.from_url(current_app.config["REDIS_URL"], socket_timeout=2)
        client.ping()
        client.close()
        checks["redis"] = "ok"
    except (redis.RedisError, OSError) as exc:
        log.warning("health check: redis: %s", exc)
        checks["redis"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if healthy else "unavailable", "checks": checks}), (
        200 if healthy else 503
    )
