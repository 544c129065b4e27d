"""The Plivo REST surface: `/v1/Account/<auth_id>/...`.

Every request passes the same gate as at Plivo, in this order: injected
latency and outage (an outage does not check credentials), HTTP Basic auth
with the auth_id in the path, the account's API rate limit. Every request is
then logged with what it was answered, because "what did the client really
send?" is the first question of any paging incident.
"""

from __future__ import annotations

import hmac
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from simulator.errors import ApiError
from simulator.faults import NO_FAULT, error_text
from simulator.formats import new_uuid
from simulator.runtime import Simulator
from simulator.whatsapp import is_whatsapp

bp = Blueprint("plivo_api", __name__)

ACCOUNT = "/v1/Account/<auth_id>"
MAX_LOGGED_BODY = 4000


def simulator() -> Simulator:
    return current_app.extensions["plivo_simulator"]


def plivo_json(status: int, payload: dict[str, Any]) -> Response:
    """Plivo puts a fresh api_id on every answer, errors included."""
    response = jsonify({"api_id": new_uuid(), **payload})
    response.status_code = status
    return response


def plivo_error(status: int, message: str, **extra: Any) -> Response:
    return plivo_json(status, {"error": message, **extra})


def _is_api_request() -> bool:
    return request.path.startswith("/v1/")


def _request_body() -> Any:
    """The JSON body (what the SDK sends), else form fields, else None."""
    data = request.get_json(silent=True)
    if data is not None:
        return data
    if request.form:
        return {key: request.form.get(key) for key in request.form}
    return None


def _credentials_ok(config_id: str, config_token: str) -> bool:
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    id_ok = hmac.compare_digest((auth.username or "").encode(), config_id.encode())
    token_ok = hmac.compare_digest((auth.password or "").encode(), config_token.encode())
    return id_ok and token_ok


def _path_auth_id() -> str | None:
    parts = request.path.split("/")
    # The REST API writes `Account`; the PHLO runner (simulator.phlo) `account`.
    return parts[3] if len(parts) > 3 and parts[2] in ("Account", "account") else None


@bp.before_app_request
def gate() -> Response | None:
    if not _is_api_request():
        return None
    sim = simulator()
    g.plivo_started = time.time()
    g.plivo_body = _request_body()
    g.plivo_auth_ok = False
    decision = sim.faults.decide(request.path, request.method)
    g.plivo_fault = decision
    if decision.latency_s and sim.pause(decision.latency_s):
        return plivo_error(503, "service unavailable")
    if decision.status is not None:
        return plivo_error(decision.status, error_text(decision.status))
    config = sim.config
    g.plivo_auth_ok = _credentials_ok(config.auth_id, config.auth_token)
    if not g.plivo_auth_ok:
        return plivo_error(401, "authentication failed")
    if _path_auth_id() != config.auth_id:
        g.plivo_auth_ok = False
        return plivo_error(401, "auth_id in the URL does not match the credentials")
    if not sim.api_limiter.allow():
        return plivo_error(429, "rate_limit_exceeded")
    return None


@bp.after_app_request
def log_and_stall(response: Response) -> Response:
    if not _is_api_request() or "plivo_started" not in g:
        return response
    sim = simulator()
    decision = g.get("plivo_fault", NO_FAULT)
    stalled = decision.stall and response.status_code < 400
    sim.state.add_request(
        {
            "time": g.plivo_started,
            "method": request.method,
            "path": request.path,
            "query": request.query_string.decode("latin-1"),
            "body": g.plivo_body,
            "auth_ok": g.plivo_auth_ok,
            "status": response.status_code,
            "response": _response_json(response),
            "stalled": stalled,
            "duration_ms": round((time.time() - g.plivo_started) * 1000, 1),
        }
    )
    if stalled:
        # The work is done and recorded; the client just never hears about it in time.
        sim.pause(sim.config.stall_seconds)
    return response


def _response_json(response: Response) -> Any:
    if response.is_json:
        return response.get_json(silent=True)
    return response.get_data(as_text=True)[:MAX_LOGGED_BODY]


def _json_object() -> dict[str, Any]:
    body = g.get("plivo_body")
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


@bp.get(f"{ACCOUNT}/", strict_slashes=False)
def account(auth_id: str) -> Response:
    return plivo_json(
        200,
        {
            "account_type": "standard",
            "auth_id": auth_id,
            "cash_credits": "100.00000",
            "name": "Plivo simulator",
            "resource_uri": f"/v1/Account/{auth_id}/",
        },
    )


@bp.post(f"{ACCOUNT}/Message/", strict_slashes=False)
def send_message(auth_id: str) -> Response:
    body = _json_object()
    sim = simulator()
    status, payload = (sim.whatsapp if is_whatsapp(body) else sim.messages).send(body)
    return plivo_json(status, payload)


@bp.get(f"{ACCOUNT}/Message/", strict_slashes=False)
def list_messages(auth_id: str) -> Response:
    return plivo_json(200, simulator().messages.page(request.args))


@bp.get(f"{ACCOUNT}/Message/<message_uuid>/", strict_slashes=False)
def get_message(auth_id: str, message_uuid: str) -> Response:
    return plivo_json(200, simulator().messages.get(message_uuid))


@bp.post(f"{ACCOUNT}/Call/", strict_slashes=False)
def create_call(auth_id: str) -> Response:
    status, payload = simulator().calls.create(_json_object())
    return plivo_json(status, payload)


@bp.get(f"{ACCOUNT}/Call/", strict_slashes=False)
def list_calls(auth_id: str) -> Response:
    return plivo_json(200, simulator().calls.page(request.args))


@bp.get(f"{ACCOUNT}/Call/<call_uuid>/", strict_slashes=False)
def get_call(auth_id: str, call_uuid: str) -> Response:
    return plivo_json(200, simulator().calls.get(call_uuid))


@bp.post(f"{ACCOUNT}/Call/<call_uuid>/", strict_slashes=False)
def transfer_call(auth_id: str, call_uuid: str) -> Response:
    """Live Call API: transfer a call in progress (`legs=aleg`, `aleg_url`); 202."""
    return plivo_json(202, simulator().calls.transfer(call_uuid, _json_object()))


@bp.delete(f"{ACCOUNT}/Call/<call_uuid>/", strict_slashes=False)
def hang_up_call(auth_id: str, call_uuid: str) -> Response:
    """Live Call API: hang up; 204 with no body, as Plivo answers."""
    simulator().calls.hang_up(call_uuid)
    return Response(status=204)


@bp.delete(f"{ACCOUNT}/Request/<request_uuid>/", strict_slashes=False)
def cancel_call_request(auth_id: str, request_uuid: str) -> Response:
    """Cancel a call still queued or ringing; 204 with no body."""
    simulator().calls.cancel_request(request_uuid)
    return Response(status=204)


@bp.post(f"{ACCOUNT}/Conference/<name>/Member/<member_ids>/Speak/", strict_slashes=False)
def speak_into_conference(auth_id: str, name: str, member_ids: str) -> Response:
    """Speak `text` to members of a live conference (`all`, or ids); 202, or 404 when
    the room does not exist (any more)."""
    text = str(_json_object().get("text") or "")
    if not text:
        return plivo_error(400, "text is required")
    state = simulator().state
    heard = state.conferences.speak_to(name, member_ids)
    if heard is None:
        return plivo_error(404, "conference not found")
    for call_uuid, _member in heard:
        state.update_call(call_uuid, lambda call: call.spoken.append(text))
    members = [member for _call, member in heard]
    return plivo_json(202, {"message": "speak queued into conference", "member_id": members})


@bp.post("/v1/account/<auth_id>/phlo/<phlo_id>", strict_slashes=False)
def run_phlo(auth_id: str, phlo_id: str) -> Response:
    """A PHLO run (simulator.phlo): on Plivo, at phlorunner.plivo.com."""
    status, payload = simulator().phlos.run(phlo_id, g.get("plivo_body"))
    return plivo_json(status, payload)


def register_error_handlers(app: Flask) -> None:
    """Every error comes back as Plivo's `{"api_id", "error"}`, never an HTML page."""

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return plivo_error(exc.status, exc.message, **exc.extra)

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> Response:
        return plivo_error(404, "not found")

    @app.errorhandler(405)
    def not_allowed(_exc: Exception) -> Response:
        return plivo_error(405, "method not allowed")

    @app.errorhandler(500)
    def server_error(_exc: Exception) -> Response:
        return plivo_error(500, "internal server error")
