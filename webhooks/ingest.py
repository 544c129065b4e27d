"""POST /api/v1/alerts: accept an alert, store it, then hand it to the workers."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError

from shared.alert_store import accept_alert
from shared.alert_view import alert_view
from shared.db import session_scope
from shared.metrics import ALERTS_ACCEPTED
from shared.schemas import AlertIn
from webhooks.auth import require_bearer_token
from webhooks.errors import ApiError

log = logging.getLogger(__name__)

bp = Blueprint("ingest", __name__)


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object: 400 when it is not JSON, 422 when not an object."""
    raw = request.get_data(cache=True)
    try:
        payload = json.loads(raw)
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


@bp.post("/api/v1/alerts")
def post_alert():  # type: ignore[no-untyped-def]
    settings = current_app.config["SETTINGS"]
    require_bearer_token(settings.ingest_tokens)
    payload = read_json_object()
    try:
        alert_in = AlertIn.model_validate(payload)
    except ValidationError as exc:
        raise ApiError(422, "invalid alert", validation_fields(exc)) from None
    if not alert_in.recipients:
        raise ApiError(
            422, "invalid alert", [{"field": "recipients", "message": "at least one is required"}]
        )
    with session_scope(settings.effective_database_url) as session:
        accepted = accept_alert(session, alert_in)
    outcome = "created" if accepted.created else "deduplicated"
    ALERTS_ACCEPTED.labels(source=alert_in.source, outcome=outcome).inc()
    queued = (
        current_app.config["ENQUEUE"].dispatch_alert(accepted.alert_id)
        if accepted.created
        else False
    )
    log.info("alert %s %s from %s", accepted.alert_id, outcome, alert_in.source)
    return jsonify({"id": accepted.alert_id, "status": outcome, "queued": queued}), 202


@bp.get("/api/v1/alerts/<int:alert_id>")
def get_alert(alert_id: int):  # type: ignore[no-untyped-def]
    """An alert with its notifications and its timeline from the event log."""
    settings = current_app.config["SETTINGS"]
    require_bearer_token(settings.ingest_tokens)
    with session_scope(settings.effective_database_url) as session:
        view = alert_view(session, alert_id)
    if view is None:
        raise ApiError(404, f"no alert {alert_id}")
    return jsonify(view)
