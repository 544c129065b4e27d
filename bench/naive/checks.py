"""What the naive pager's receiver and the floor pager check of each request, in one place.

Both take the same requests as alert-dispatch (a bearer token, an alert's JSON
body, Plivo's signed delivery reports), so one client drives all three.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, Response, jsonify, request

from bench.naive.tasks import config
from shared.plivo.signature import verify_v3


def authorized() -> bool:
    """The request carries the API token as a bearer token."""
    presented = request.headers.get("Authorization", "").removeprefix("Bearer ")
    return hmac.compare_digest(presented.encode(), config().api_token.encode())


def refuse(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def alert_body_error(body: Any) -> str | None:
    """Why an alert's body cannot be taken (None: it can): a summary, a list of numbers."""
    if not isinstance(body, dict) or not isinstance(body.get("summary"), str):
        return "summary is required"
    recipients = body.get("recipients") or []
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        return "recipients must be a list of numbers"
    return None


def verified_report() -> dict[str, str] | None:
    """A delivery report's form fields when its V3 signature holds, else None."""
    params = {key: request.form.get(key, "") for key in request.form}
    url = f"{config().public_url}{request.full_path.rstrip('?')}"
    signature = request.headers.get("X-Plivo-Signature-V3")
    nonce = request.headers.get("X-Plivo-Signature-V3-Nonce")
    if not verify_v3(config().plivo_auth_token, url, nonce, params, signature):
        return None
    return params


def checked_alert() -> tuple[dict[str, Any], None] | tuple[None, tuple[Response, int]]:
    """An alert's POST: its body when the token and the body are good, else the refusal."""
    if not authorized():
        return None, refuse(401, "invalid token")
    body = request.get_json(silent=True)
    error = alert_body_error(body)
    if error is not None:
        return None, refuse(422, error)
    return body, None


def pager_app(name: str) -> Flask:
    """A Flask app with `GET /healthz`, which the benchmark waits for at start."""
    app = Flask(name)
    app.add_url_rule("/healthz", "healthz", lambda: jsonify({"ok": True}))
    return app


def invalid_signature() -> Response:
    return Response("invalid signature\n", status=403, mimetype="text/plain")
