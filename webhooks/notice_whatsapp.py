"""Plivo's status reports for maintenance-notice WhatsApp messages.

Verified like every Plivo callback (`verified_params`). The URL names the
message's batch (`?nb=`); progress reports (`queued`, `sent`) are answered
without touching the database, final ones (`delivered`, `read`,
`undelivered`, `failed`) are logged once and applied at once
(shared.notices.whatsapp): a notice's report starts no follow-up.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from shared.core.db import session_scope
from shared.core.metrics import NOTICE_WHATSAPP
from shared.core.models import utcnow
from shared.notices.whatsapp import STATUS_PATH, not_recorded, receive_whatsapp_report
from shared.plivo.callback_urls import notice_batch_from
from webhooks.plivo_callbacks import verified_params

log = logging.getLogger(__name__)

bp = Blueprint("notice_whatsapp", __name__)

# The counter's result for each final status (a request refused is `failed`).
_COUNTED = {
    "delivered": "delivered",
    "read": "read",
    "undelivered": "undelivered",
    "failed": "delivery_failed",
}


@bp.post(STATUS_PATH)
def status() -> Response:
    params = verified_params("notice_whatsapp_status")
    if isinstance(params, Response):
        return params
    batch_id = notice_batch_from(request.args)
    outcome = not_recorded(params) if batch_id is not None else "unknown_message"
    if outcome is None and batch_id is not None:
        url = current_app.config["SETTINGS"].effective_database_url
        with session_scope(url) as session:
            outcome = receive_whatsapp_report(session, batch_id, params, utcnow()).outcome
        if outcome == "recorded":
            NOTICE_WHATSAPP.labels(result=_COUNTED[params["Status"].strip().lower()]).inc()
    if outcome == "unknown_message":
        log.warning("WhatsApp report for no notice message: %s", params.get("MessageUUID"))
    return Response(f"{outcome}\n", status=200, mimetype="text/plain")
