"""Reading alerts: GET /api/v1/alerts, /api/v1/alerts/{id} and its /timeline, for scripts.

The API tokens, as for posting alerts; the same query as the CLI
(`shared.alerts.listing`), so a status page and a shell never disagree.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, current_app, jsonify, request

from shared.alerts.listing import FilterError, list_alerts, parse_filter
from shared.alerts.view import alert_summary, alert_view, timeline
from shared.core.db import session_scope
from webhooks.auth import authenticate
from webhooks.errors import ApiError
from webhooks.ingest import ALERT_ID

bp = Blueprint("alert_queries", __name__)


@bp.get("/api/v1/alerts")
def get_alerts():  # type: ignore[no-untyped-def]
    """Open alerts by default, newest first, one page at a time."""
    authenticate()
    try:
        wanted = parse_filter(request.args.to_dict(flat=False))
    except FilterError as exc:
        raise ApiError(
            422, "invalid filter", [{"field": exc.field, "message": exc.message}]
        ) from None
    settings = current_app.config["SETTINGS"]
    with session_scope(settings.effective_database_url) as session:
        page = list_alerts(session, wanted)
        alerts = [
            alert_summary(alert, page.notification_counts.get(alert.id, 0)) for alert in page.alerts
        ]
    return jsonify({"alerts": alerts, "next_cursor": page.next_cursor})


@bp.get(f"/api/v1/alerts/<{ALERT_ID}:alert_id>/timeline")
def get_timeline(alert_id: int):  # type: ignore[no-untyped-def]
    """The alert's event log, oldest first."""
    authenticate()
    settings = current_app.config["SETTINGS"]
    with session_scope(settings.effective_database_url) as session:
        entries = timeline(session, alert_id)
    if entries is None:
        raise ApiError(404, f"no alert {alert_id}")
    return jsonify({"id": alert_id, "timeline": entries})


@bp.get(f"/api/v1/alerts/<{ALERT_ID}:alert_id>")
def get_alert(alert_id: int):  # type: ignore[no-untyped-def]
    """An alert with its notifications and its timeline from the event log."""
    authenticate()
    settings = current_app.config["SETTINGS"]
    with session_scope(settings.effective_database_url) as session:
        window = timedelta(seconds=settings.change_window_s)
        view = alert_view(session, alert_id, change_window=window)
    if view is None:
        raise ApiError(404, f"no alert {alert_id}")
    return jsonify(view)
