"""Producer integrations over HTTP: Alertmanager, Grafana, PagerDuty Events API v2.

Each endpoint first authenticates with its integration's token (before the
body is parsed), converts the body with `shared.alerts.formats`, and hands its
events to `accept_events`, which stores them all in one transaction, in the
credential's scope, and then enqueues routing. A body with one invalid alert
is refused whole before anything is stored. The answer follows the commit and
never waits on Plivo: paging happens in the workers.

Integrations do not demand recipients: who is paged is decided by the on-call
routing from labels, severity and source, and an alert nobody is routed to is
still stored (the dispatcher reports it as unroutable).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState

from shared.alerts.formats import FormatError, alertmanager, grafana, pagerduty
from shared.alerts.integration_auth import (
    GRAFANA_SIGNATURE_HEADER,
    GRAFANA_TIMESTAMP_HEADERS,
    parse_integration_tokens,
    verify_grafana_signature,
)
from shared.alerts.schemas import AlertIn
from shared.core.metrics import count_rejected
from webhooks.auth import authenticate
from webhooks.errors import ApiError
from webhooks.ingest import accept_event, accept_events, read_body, read_json_object
from webhooks.pagerduty_key import EventRefused, pagerduty_invalid, read_pagerduty_event

log = logging.getLogger(__name__)

bp = Blueprint("integrations", __name__)


@bp.record_once
def _check_tokens(state: BlueprintSetupState) -> None:
    """A typo in INTEGRATION_TOKENS stops start-up instead of silently using API_TOKENS."""
    parse_integration_tokens(state.app.config["SETTINGS"].integration_tokens)


@bp.after_request
def _count_rejections(response: Response) -> Response:
    if 400 <= response.status_code < 500:
        count_rejected(response.status_code)
    return response


def _settings():  # type: ignore[no-untyped-def]
    return current_app.config["SETTINGS"]


def _convert(convert: Callable[[Mapping[str, Any]], list[AlertIn]], payload: dict[str, Any]):  # type: ignore[no-untyped-def]
    try:
        return convert(payload)
    except FormatError as exc:
        raise ApiError(422, exc.message, exc.fields) from None


def _accept_all(events: list[AlertIn], *, via: str, scope: str) -> Response:
    """Store the body's events together, in order; 202 with what each one did."""
    results = [
        {
            "dedup_key": alert_in.dedup_key,
            "action": alert_in.action.value,
            "id": accepted.result.alert_id,
            "status": accepted.result.outcome,
            "queued": accepted.queued,
        }
        for alert_in, accepted in zip(
            events, accept_events(events, via=via, scope=scope), strict=True
        )
    ]
    response = jsonify({"accepted": len(results), "alerts": results})
    response.status_code = 202
    return response


@bp.post("/api/v1/integrations/alertmanager")
def alertmanager_webhook() -> Response:
    """Alertmanager `webhook_configs` receiver, authorized with `http_config.authorization`."""
    scope = authenticate("alertmanager")
    events = _convert(alertmanager.to_alerts, read_json_object())
    return _accept_all(events, via="alertmanager", scope=scope)


@bp.route("/api/v1/integrations/grafana", methods=["POST", "PUT"])
def grafana_webhook() -> Response:
    """Grafana webhook contact point (POST or PUT, as configured there)."""
    settings = _settings()
    scope = authenticate("grafana")
    if settings.grafana_hmac_secret:
        timestamp = next(
            (request.headers[h] for h in GRAFANA_TIMESTAMP_HEADERS if h in request.headers), None
        )
        check = verify_grafana_signature(
            settings.grafana_hmac_secret,
            read_body(),
            request.headers.get(GRAFANA_SIGNATURE_HEADER),
            timestamp,
        )
        if not check.ok:
            log.warning("Grafana webhook refused: %s", check.reason)
            raise ApiError(
                401,
                "invalid Grafana signature",
                [{"field": check.header, "message": check.reason}],
            )
    events = _convert(grafana.to_alerts, read_json_object())
    return _accept_all(events, via="grafana", scope=scope)


@bp.post("/v2/enqueue")
def pagerduty_enqueue() -> Response:
    """PagerDuty Events API v2: the routing key is the credential, as at PagerDuty.

    The key rides in the body, so the body is read (bounded, strict JSON) and
    the key checked, exactly as sent, before any other field is looked at.
    Every refusal is PagerDuty's 400, its clients' way of seeing a bad key.
    """
    try:
        payload, scope = read_pagerduty_event()
    except EventRefused as exc:
        return pagerduty_invalid(exc.errors)
    try:
        [alert_in] = pagerduty.to_alerts(payload)
    except FormatError as exc:
        return pagerduty_invalid(pagerduty.error_strings(exc))
    accept_event(alert_in, via="pagerduty", scope=scope)
    response = jsonify(
        {"status": "success", "message": "Event processed", "dedup_key": alert_in.dedup_key}
    )
    response.status_code = 202
    return response
