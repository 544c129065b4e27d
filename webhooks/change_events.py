"""PagerDuty Change Events API: `POST /v2/change/enqueue`, deploys and configuration changes.

Authenticated exactly as PagerDuty alert events (`/v2/enqueue`): the routing
key (in the body, or `X-Routing-Key` from older clients) is checked, as sent,
by the one credential check before any other field is read, and its
credential decides the scope the change is stored in. The answers are
PagerDuty's: 202 `{"status": "success", "message": "Change event processed"}`,
every refusal a 400 `{"status": "invalid event", ...}` naming what is wrong.

A change pages nobody; it is stored and shown with later alerts of the same
service (`shared.alerts.changes`).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, jsonify

from shared.alerts.changes import store_change
from shared.alerts.formats import FormatError, pagerduty, pagerduty_change
from shared.core.db import session_scope
from shared.core.metrics import CHANGE_EVENTS, count_rejected
from shared.core.models import utcnow
from webhooks.pagerduty_key import EventRefused, pagerduty_invalid, read_pagerduty_event

log = logging.getLogger(__name__)

bp = Blueprint("change_events", __name__)

ACCEPTED_BODY = {"status": "success", "message": "Change event processed"}


@bp.after_request
def _count(response: Response) -> Response:
    if 400 <= response.status_code < 500:
        count_rejected(response.status_code)
        CHANGE_EVENTS.labels(result="rejected").inc()
    return response


@bp.post("/v2/change/enqueue")
def change_enqueue() -> Response:
    """Store one change event in the routing key's scope; 202 once it is committed."""
    try:
        payload, scope = read_pagerduty_event()
        change = pagerduty_change.parse(payload, received_at=utcnow())
    except EventRefused as exc:
        return pagerduty_invalid(exc.errors)
    except FormatError as exc:
        return pagerduty_invalid(pagerduty.error_strings(exc))
    settings = current_app.config["SETTINGS"]
    with session_scope(settings.effective_database_url) as session:
        change_id = store_change(session, change, scope=scope)
    CHANGE_EVENTS.labels(result="accepted").inc()
    log.info("change event %s stored in scope %s", change_id, scope)
    response = jsonify(ACCEPTED_BODY)
    response.status_code = 202
    return response
