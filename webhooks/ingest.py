"""POST /api/v1/alerts: accept an alert, store it, then hand it to the workers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError

from shared import strict_json
from shared.alert_view import alert_view
from shared.db import session_scope
from shared.ingest import IngestResult, ingest
from shared.metrics import ALERTS_ACCEPTED
from shared.priority import page_priority
from shared.schemas import AlertAction, AlertIn
from webhooks.auth import require_bearer_token
from webhooks.errors import ApiError

log = logging.getLogger(__name__)

# Alert ids are 32-bit integers in the database: a larger id is simply not
# found (404), rather than an error from the database driver.
ALERT_ID = "int(max=2147483647)"

bp = Blueprint("ingest", __name__)


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object: 400 when it is not JSON, 422 when not an object."""
    raw = request.get_data(cache=True)
    try:
        payload = strict_json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(
            422, "body must be a JSON object", [{"field": "", "message": "not an object"}]
        )
    return payload


def validation_fields(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]


@dataclass(frozen=True)
class Accepted:
    result: IngestResult
    queued: bool  # False: stored, but the broker was down; the tick hands it over


def accept_event(alert_in: AlertIn, *, via: str) -> Accepted:
    """Store the event, count it, then enqueue routing for a new alert.

    Every ingestion endpoint ends here. The database commit comes first, so
    a 2xx always means stored; a broker outage only delays routing (the tick
    hands over alerts never dispatched).
    """
    settings = current_app.config["SETTINGS"]
    with session_scope(settings.effective_database_url) as session:
        result = ingest(session, alert_in, via=via)
    ALERTS_ACCEPTED.labels(source=alert_in.source, outcome=result.outcome).inc()
    queued = False
    if result.needs_dispatch and result.alert_id is not None:
        queued = current_app.config["ENQUEUE"].dispatch_alert(
            result.alert_id, priority=page_priority(alert_in.severity)
        )
    log.info("alert event from %s: %s (alert %s)", alert_in.source, result.outcome, result.alert_id)
    return Accepted(result, queued)


def require_route_or_recipients(alert_in: AlertIn) -> None:
    """Without an on-call configuration, a new alert must say who to page."""
    settings = current_app.config["SETTINGS"]
    if (
        alert_in.action is AlertAction.TRIGGER
        and not alert_in.recipients
        and settings.config_file is None
    ):
        raise ApiError(
            422,
            "invalid alert",
            [
                {
                    "field": "recipients",
                    "message": "at least one is required when no on-call "
                    "configuration (CONFIG_FILE) routes alerts",
                }
            ],
        )


@bp.post("/api/v1/alerts")
def post_alert():  # type: ignore[no-untyped-def]
    settings = current_app.config["SETTINGS"]
    require_bearer_token(settings.ingest_tokens)
    payload = read_json_object()
    try:
        alert_in = AlertIn.model_validate(payload)
    except ValidationError as exc:
        raise ApiError(422, "invalid alert", validation_fields(exc)) from None
    require_route_or_recipients(alert_in)
    accepted = accept_event(alert_in, via="api")
    body = {
        "id": accepted.result.alert_id,
        "status": accepted.result.outcome,
        "queued": accepted.queued,
    }
    return jsonify(body), 202


@bp.get(f"/api/v1/alerts/<{ALERT_ID}:alert_id>")
def get_alert(alert_id: int):  # type: ignore[no-untyped-def]
    """An alert with its notifications and its timeline from the event log."""
    settings = current_app.config["SETTINGS"]
    require_bearer_token(settings.ingest_tokens)
    with session_scope(settings.effective_database_url) as session:
        view = alert_view(session, alert_id)
    if view is None:
        raise ApiError(404, f"no alert {alert_id}")
    return jsonify(view)
