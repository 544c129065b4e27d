"""Plivo's callbacks: verified, taken once, then applied here or handed to the workers.

Every callback endpoint (SMS status and inbound, voice answer, keypress,
machine detection, hang-up) goes through `verified_params`: the V3 signature
must match the URL Plivo called, and the request's nonce must be new (see
shared.plivo.replay). A wrong PUBLIC_BASE_URL makes every callback fail that
check, so the URL they are verified against is logged at start-up, and a
refusal that would have passed on the URL the request actually came in on is
remembered for /healthz to report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from typing import Final, TypeVar

import redis
from flask import Blueprint, Response, current_app, g, request
from flask.blueprints import BlueprintSetupState

from shared.core.db import session_scope
from shared.core.metrics import CALLBACKS_REJECTED, DELIVERY_REPORTS, bounded_label
from shared.core.models import utcnow
from shared.notices.reports import not_recorded, receive_report
from shared.notifications import report_inbox
from shared.notifications.delivery_reports import inbox_entry
from shared.notifications.state import PLIVO_SMS_STATUS
from shared.plivo import replay
from shared.plivo.callback_urls import notice_batch_from, notification_id_from
from shared.plivo.signature import verify_v3

log = logging.getLogger(__name__)

# What a nonce's claim answers: truthy when the nonce was new.
Claimed = TypeVar("Claimed")

bp = Blueprint("plivo_callbacks", __name__)

# A refusal caused by PUBLIC_BASE_URL is reported by /healthz for this long after
# the last one: long enough to be seen, short enough to clear once it is fixed.
URL_MISMATCH_KEY: Final = "plivo:callbacks:url_mismatch"
URL_MISMATCH_TTL_S: Final = 3600


@bp.record_once
def _say_where_callbacks_are_verified(state: BlueprintSetupState) -> None:
    """One line at start: a PUBLIC_BASE_URL that is not the URL Plivo calls fails every callback."""
    base = state.app.config["SETTINGS"].public_base_url
    log.info(
        "Plivo callbacks are verified against PUBLIC_BASE_URL %s: Plivo must be given URLs "
        "under exactly this scheme and host, or every callback is refused with 403",
        base,
    )


def public_url() -> str:
    """The URL Plivo signed: our public base URL, not whatever a proxy forwarded to us."""
    return _url_on(current_app.config["SETTINGS"].public_base_url)


def _url_on(base: str) -> str:
    query = request.query_string.decode("latin-1")
    return f"{base.rstrip('/')}{request.path}" + (f"?{query}" if query else "")


def received_bases(
    scheme: str, host: str, forwarded_proto: str | None, forwarded_host: str | None
) -> list[str]:
    """The base URLs a request may have been signed for, judging by how it reached us.

    Behind a proxy the Host we see may be an internal one, so the forwarded
    scheme and host are tried too. Only used to explain a refusal, never to accept.
    """
    # A forwarded header may list several hops: the first is the client's view.
    schemes = [v.split(",")[0].strip() for v in (forwarded_proto, scheme) if v]
    hosts = [v.split(",")[0].strip() for v in (forwarded_host, host) if v]
    return list(dict.fromkeys(f"{s}://{h}" for s in schemes for h in hosts))


def mismatch_message(signed_for: str, configured: str) -> str:
    """What /healthz says while callbacks are refused because of PUBLIC_BASE_URL."""
    return f"refused: signed for {signed_for} but PUBLIC_BASE_URL is {configured}"


def _signed_with_any(tokens: Collection[str], url: str, nonce: str, params: dict[str, str]) -> bool:
    signature = request.headers.get("X-Plivo-Signature-V3", "")
    return any(verify_v3(token, url, nonce, params, signature, "POST") for token in tokens)


def _note_url_mismatch(tokens: Collection[str], nonce: str, params: dict[str, str]) -> bool:
    """True (and remembered for /healthz) when the signature fits the URL we were reached on."""
    configured = current_app.config["SETTINGS"].public_base_url.rstrip("/")
    for base in received_bases(
        request.scheme,
        request.host,
        request.headers.get("X-Forwarded-Proto"),
        request.headers.get("X-Forwarded-Host"),
    ):
        if base == configured or not _signed_with_any(tokens, _url_on(base), nonce, params):
            continue
        log.error(
            "Plivo callback signed for %s refused: PUBLIC_BASE_URL is %s; fix PUBLIC_BASE_URL "
            "(or the URLs given to Plivo), every callback fails until then",
            base,
            configured,
        )
        try:
            current_app.config["REDIS"].set(
                URL_MISMATCH_KEY,
                json.dumps({"signed_for": base, "public_base_url": configured}),
                ex=URL_MISMATCH_TTL_S,
            )
        except redis.RedisError as exc:
            log.warning("could not record the PUBLIC_BASE_URL mismatch for /healthz: %s", exc)
        return True
    return False


def callbacks_health(client: redis.Redis) -> str:
    """ "ok", or why callbacks were refused lately (for /healthz). Raises redis.RedisError."""
    raw = client.get(URL_MISMATCH_KEY)
    if not raw:
        return "ok"
    noted = json.loads(raw)
    return mismatch_message(noted["signed_for"], noted["public_base_url"])


def _refuse(endpoint: str, reason: str, status: int, body: str) -> Response:
    CALLBACKS_REJECTED.labels(endpoint=endpoint, reason=reason).inc()
    return Response(body, status=status, mimetype="text/plain")


def verified_params(endpoint: str) -> dict[str, str] | Response:
    """The form params of a genuine, first-seen callback; otherwise the refusal to return.

    403 for an unsigned, wrongly signed or replayed request; 503 when Redis
    cannot say whether the nonce was seen: accepting then would let a replay in.
    The nonce is claimed only once the signature holds (a forgery burns none),
    and given back if we then fail with a 5xx, so Plivo's retry of a request we
    did not handle is not taken for a replay (shared.plivo.replay says why).
    """
    signed = _signed_params(endpoint)
    if isinstance(signed, Response):
        return signed
    params, nonce = signed
    client = current_app.config["REDIS"]
    claimed = _first_seen(endpoint, nonce, lambda: replay.claim(client, nonce))
    return claimed if isinstance(claimed, Response) else params


def _signed_params(endpoint: str) -> tuple[dict[str, str], str] | Response:
    """The form params and nonce of a request signed with an account's token (its nonce
    not yet claimed: `_first_seen` must come next); otherwise the 403 to return."""
    settings = current_app.config["SETTINGS"]
    signature = request.headers.get("X-Plivo-Signature-V3", "")
    nonce = request.headers.get("X-Plivo-Signature-V3-Nonce", "")
    params = {key: request.form.get(key, "") for key in request.form}
    if not signature or not nonce:
        log.warning("unsigned callback to %s refused", endpoint)
        return _refuse(endpoint, "unsigned", 403, "invalid signature\n")
    # Signed with the primary account's token, or the backup's for sends it carried.
    if not _signed_with_any(settings.callback_tokens, public_url(), nonce, params):
        if _note_url_mismatch(settings.callback_tokens, nonce, params):
            return _refuse(endpoint, "wrong_public_url", 403, "invalid signature\n")
        log.warning("callback to %s with a wrong signature refused", endpoint)
        return _refuse(endpoint, "bad_signature", 403, "invalid signature\n")
    return params, nonce


def _first_seen(endpoint: str, nonce: str, claim: Callable[[], Claimed]) -> Response | Claimed:
    """Run `claim` (the nonce's claim, alone or with what the request does): what it
    returned when this was the first request with the nonce (truthy), else the 403
    (replay) or 503 (Redis) to return. From here, a 5xx answer gives the nonce back
    (`_give_back_nonce_after_failure`)."""
    g.plivo_nonce = nonce
    try:
        first = claim()
    except redis.RedisError as exc:
        log.error(
            "callback to %s refused with 503: Redis is unavailable, so a replay could not be "
            "told apart (%s); Plivo will retry",
            endpoint,
            type(exc).__name__,
        )
        return _refuse(endpoint, "replay_check_unavailable", 503, "try again later\n")
    if not first:
        g.pop("plivo_nonce", None)
        log.warning("replayed callback to %s refused (nonce seen before)", endpoint)
        return _refuse(endpoint, "replayed", 403, "replayed request\n")
    return first


@bp.after_app_request
def _give_back_nonce_after_failure(response: Response) -> Response:
    """A callback we failed to handle may be retried by Plivo: do not refuse that as a replay."""
    nonce = g.pop("plivo_nonce", None)
    if nonce is not None and response.status_code >= 500:
        try:
            replay.release(current_app.config["REDIS"], nonce)
        except redis.RedisError as exc:
            log.warning("could not release the nonce of a failed callback: %s", exc)
    return response


def _notification_id_from_query() -> int | None:
    return notification_id_from(request.args)


@bp.post("/plivo/sms/status")
def sms_status() -> Response:
    """A page's report is left in the report inbox and answered at once; a worker applies it.

    Nothing else must happen before the answer: the signature is checked
    first, then one script claims the nonce and pushes the report together
    (one round trip to Redis). The push that finds the inbox empty and no
    drainer reading it starts one; later pushes join the batches it reads
    (and the hand-over of sends starts one for anything left waiting). If
    Redis cannot answer we answer 503, the nonce is given back, and Plivo
    retries.
    """
    signed = _signed_params("sms_status")
    if isinstance(signed, Response):
        return signed
    params, nonce = signed
    client = current_app.config["REDIS"]
    status = params.get("Status", "").strip().lower() or "missing"
    label = bounded_label(status, PLIVO_SMS_STATUS)  # a sender must not grow the metric
    batch_id = notice_batch_from(request.args)
    if batch_id is not None:
        claimed = _first_seen("sms_status", nonce, lambda: replay.claim(client, nonce))
        if isinstance(claimed, Response):
            return claimed
        return _notice_sms_status(params, batch_id, label)
    entry = inbox_entry(params, _notification_id_from_query(), utcnow())
    pushed = _first_seen(
        "sms_status", nonce, lambda: report_inbox.push_if_first(client, nonce, entry)
    )
    if isinstance(pushed, Response):
        return pushed
    DELIVERY_REPORTS.labels(status=label, outcome="accepted").inc()
    if pushed.start_drainer:
        current_app.config["ENQUEUE"].apply_delivery_reports()
    return Response("ok\n", status=200, mimetype="text/plain")


def _notice_sms_status(params: dict[str, str], batch_id: str, label: str) -> Response:
    """A notice SMS's report (its URL names the batch): logged once and applied at once
    (shared.notices.reports), never moving a page's notification."""
    outcome = not_recorded(params)
    if outcome is None:
        url = current_app.config["SETTINGS"].effective_database_url
        with session_scope(url) as session:
            outcome = receive_report(session, batch_id, params, utcnow()).outcome
    DELIVERY_REPORTS.labels(status=label, outcome=outcome).inc()
    if outcome == "unknown_message":
        log.warning("delivery report for unknown notice message %s", params.get("MessageUUID"))
    return Response(f"{outcome}\n", status=200, mimetype="text/plain")
