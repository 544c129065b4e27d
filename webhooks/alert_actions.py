"""Acknowledge and resolve over the API: POST /api/v1/alerts/<id>/ack and /resolve."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint, current_app, jsonify

from shared.alerts.lifecycle import LifecycleResult, acknowledge, resolve
from shared.alerts.schemas import has_visible_text
from shared.core.db import session_scope
from shared.core.enums import AlertStatus
from shared.core.metrics import ALERT_ACTIONS
from webhooks.auth import authenticate
from webhooks.errors import ApiError
from webhooks.ingest import ALERT_ID, parse_json, read_body

log = logging.getLogger(__name__)

bp = Blueprint("alert_actions", __name__)


def _actor() -> str:
    """Who acts: `by` from an optional JSON body, else the API.

    No body (or only white space) is fine; a body that is there must be JSON
    (400 otherwise), so a client's mistake is never taken as an ack by "api".
    """
    raw = read_body()
    payload = parse_json(raw) if raw.strip() else {}
    if not isinstance(payload, dict):
        raise ApiError(
            422, "body must be a JSON object", [{"field": "", "message": "not an object"}]
        )
    by = payload.get("by", "api")
    if not isinstance(by, str) or not has_visible_text(by) or len(by) > 200:
        raise ApiError(
            422,
            "invalid request",
            [{"field": "by", "message": "1 to 200 characters, not only white space or controls"}],
        )
    return by.strip()


def _answer(alert_id: int, action: str, result: LifecycleResult):  # type: ignore[no-untyped-def]
    if result.status is None:
        raise ApiError(404, f"no alert {alert_id}")
    if result.changed:
        ALERT_ACTIONS.labels(action=action, via="api").inc()
        log.info("alert %s %s via api", alert_id, action)
    return jsonify(
        {
            "id": alert_id,
            "status": result.status,
            "changed": result.changed,
            "cancelled_notifications": result.cancelled,
        }
    )


def _act(alert_id: int, action: str, act: Callable[..., LifecycleResult]):  # type: ignore[no-untyped-def]
    authenticate()
    settings = current_app.config["SETTINGS"]
    by = _actor()
    with session_scope(settings.effective_database_url) as session:
        result = act(session, alert_id, by=by, via="api")
    return _answer(alert_id, action, result)


@bp.post(f"/api/v1/alerts/<{ALERT_ID}:alert_id>/ack")
def ack(alert_id: int):  # type: ignore[no-untyped-def]
    return _act(alert_id, AlertStatus.ACKNOWLEDGED, acknowledge)


@bp.post(f"/api/v1/alerts/<{ALERT_ID}:alert_id>/resolve")
def resolve_alert(alert_id: int):  # type: ignore[no-untyped-def]
    return _act(alert_id, AlertStatus.RESOLVED, resolve)
