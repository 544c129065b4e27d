"""The naive pager's Flask app: `gunicorn -k gevent bench.naive.web:app`.

The same request shapes as alert-dispatch's (`/api/v1/alerts` with a bearer
token, the Alertmanager webhook, Plivo's delivery reports), so one client
drives both. Each view stores and enqueues, nothing more: no dedup, no
routing, no replay check (a delivery report's V3 signature is checked, as
Plivo's documentation asks of any receiver).
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from sqlalchemy.orm import Session

from bench.naive.checks import (
    authorized,
    checked_alert,
    invalid_signature,
    pager_app,
    refuse,
    verified_report,
)
from bench.naive.config import STATUS_PATH
from bench.naive.store import NaiveAlert, engine
from bench.naive.tasks import config, record_report, send_page

app = pager_app(__name__)


@app.post("/api/v1/alerts")
def post_alert() -> tuple[Response, int]:
    body, refused = checked_alert()
    if refused is not None:
        return refused
    recipients = body.get("recipients") or []
    alert = NaiveAlert(
        summary=body["summary"],
        severity=str(body.get("severity", "error")),
        source=str(body.get("source", "")),
        recipients=recipients,
    )
    with Session(engine(config().database_url)) as session:
        session.add(alert)
        session.commit()
        alert_id = alert.id
    for number in recipients:
        send_page.apply_async((alert_id, number, alert.summary))
    return jsonify({"id": alert_id, "status": "created", "queued": True}), 202


def _alertmanager_alert(item: dict[str, Any]) -> NaiveAlert:
    labels = item.get("labels") or {}
    annotations = item.get("annotations") or {}
    return NaiveAlert(
        summary=str(annotations.get("summary") or labels.get("alertname") or "alert"),
        severity=str(labels.get("severity", "error")),
        source="alertmanager",
        labels=labels,
    )


@app.post("/api/v1/integrations/alertmanager")
def alertmanager() -> tuple[Response, int]:
    """Every firing alert of the group stored in one commit, then one page each."""
    if not authorized():
        return refuse(401, "invalid token")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("alerts"), list):
        return refuse(422, "alerts is required")
    alerts = [_alertmanager_alert(a) for a in body["alerts"] if a.get("status") == "firing"]
    with Session(engine(config().database_url)) as session:
        session.add_all(alerts)
        session.commit()
        pages = [(alert.id, alert.summary) for alert in alerts]
    for alert_id, summary in pages:
        send_page.apply_async((alert_id, config().oncall_number, summary))
    return jsonify({"accepted": len(pages)}), 202


@app.post(STATUS_PATH)
def sms_status() -> Response:
    """Check the signature, hand the report to a task, answer at once."""
    params = verified_report()
    if params is None:
        return invalid_signature()
    record_report.apply_async((params.get("MessageUUID", ""), params.get("Status", "")))
    return Response("ok\n", status=200, mimetype="text/plain")
