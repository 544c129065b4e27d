"""The PagerDuty endpoints' way in: the body read and the routing key checked first.

`/v2/enqueue` (alert events) and `/v2/change/enqueue` (change events) carry
their credential in the body, so the body is read (bounded, strict JSON) and
the key checked, exactly as sent, before any other field is looked at. Every
refusal is PagerDuty's own 400 body, its clients' way of seeing a bad key.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request

from shared.alerts.integration_auth import credential_for, token_matches
from shared.core import strict_json
from webhooks.ingest import read_body


class EventRefused(Exception):
    """A body refused before it is stored; `errors` is PagerDuty's list of strings."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def pagerduty_invalid(errors: list[str]) -> Response:
    """PagerDuty's own 400 body, so its clients report our errors as they report its own."""
    response = jsonify(
        {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    )
    response.status_code = 400
    return response


def read_pagerduty_event() -> tuple[dict[str, Any], str]:
    """The body as a JSON object, and the scope of its routing key.

    The key rides in the body, so the body is read (bounded, strict JSON) and
    the key checked, exactly as sent, before any other field is looked at.
    """
    try:
        payload = strict_json.loads(read_body(), what="Event object")
    except strict_json.JsonRefused as exc:
        raise EventRefused([str(exc)]) from None
    except ValueError:
        raise EventRefused(["Event object is not valid JSON"]) from None
    if not isinstance(payload, dict):
        raise EventRefused(["Event object must be a JSON object"])
    routing_key = payload.get("routing_key")
    if routing_key is None:
        # Older PagerDuty client libraries send the key as a header only.
        routing_key = request.headers.get("X-Routing-Key")
    if routing_key is None or routing_key == "":
        raise EventRefused(["'routing_key' is missing or blank"])
    credential = credential_for(current_app.config["SETTINGS"], "pagerduty")
    if not token_matches(routing_key, credential.tokens):
        raise EventRefused(["Invalid routing key"])
    # A key sent as a header travels on in the body, where the models expect it.
    return {**payload, "routing_key": routing_key}, credential.scope
