"""Plivo's callbacks: verified, recorded, then handed to the workers."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from shared.db import session_scope
from shared.events import record_event
from shared.metrics import CALLBACKS_REJECTED, DELIVERY_REPORTS
from shared.notification_store import apply_sms_report, find_notification, record_sms_report
from shared.plivo.signature import verify_v3

log = logging.getLogger(__name__)

bp = Blueprint("plivo_callbacks", __name__)


def public_url() -> str:
    """The URL Plivo signed: our public base URL, not whatever a proxy forwarded to us."""
    base = current_app.config["SETTINGS"].public_base_url
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def verified_params(endpoint: str) -> dict[str, str] | None:
    """The form params when the V3 signature is right; None (and counted) otherwise."""
    settings = current_app.config["SETTINGS"]
    signature = request.headers.get("X-Plivo-Signature-V3", "")
    nonce = request.headers.get("X-Plivo-Signature-V3-Nonce", "")
    params = {key: request.form.get(key, "") for key in request.form}
    if not signature or not nonce:
        CALLBACKS_REJECTED.labels(endpoint=endpoint, reason="unsigned").inc()
        log.warning("unsigned callback to %s refused", endpoint)
        return None
    url = public_url()
    # Signed with the primary account's token, or the backup's for sends it carried.
    if not any(
        verify_v3(token, url, nonce, params, signature, "POST")
        for token in settings.callback_tokens
    ):
        CALLBACKS_REJECTED.labels(endpoint=endpoint, reason="bad_signature").inc()
        log.warning("callback to %s with a wrong signature refused", endpoint)
        return None
    return params


def forbidden() -> Response:
    return Response("invalid signature\n", status=403, mimetype="text/plain")


def _notification_id_from_query() -> int | None:
    raw = request.args.get("n", "")
    return int(raw) if raw.isdigit() else None


@bp.post("/plivo/sms/status")
def sms_status() -> Response:
    params = verified_params("sms_status")
    if params is None:
        return forbidden()
    status = params.get("Status", "").strip().lower() or "missing"
    settings = current_app.config["SETTINGS"]
    with session_scope(settings.effective_database_url) as session:
        notification = find_notification(
            session,
            notification_id=_notification_id_from_query(),
            provider_uuid=params.get("MessageUUID") or None,
        )
        if notification is None:
            record_event(
                session,
                "callback.unknown_message",
                detail={
                    "MessageUUID": params.get("MessageUUID"),
                    "Status": status,
                },
            )
            event_id = None
        else:
            event_id = record_sms_report(session, notification, params)
            notification_id = notification.id
    if notification is None:
        DELIVERY_REPORTS.labels(status=status, outcome="unknown_message").inc()
        log.warning("delivery report for unknown message %s", params.get("MessageUUID"))
        return Response("unknown message\n", status=200, mimetype="text/plain")
    if event_id is None:
        DELIVERY_REPORTS.labels(status=status, outcome="duplicate").inc()
        return Response("duplicate\n", status=200, mimetype="text/plain")
    DELIVERY_REPORTS.labels(status=status, outcome="recorded").inc()
    if not current_app.config["ENQUEUE"].apply_delivery_report(event_id):
        # Broker down: apply here rather than leave the state behind the log.
        with session_scope(settings.effective_database_url) as session:
            apply_sms_report(session, notification_id, params)
    return Response("ok\n", status=200, mimetype="text/plain")
