"""Plivo's callbacks for maintenance-notice calls: what to say, and how the call ended.

Verified like every Plivo callback (`verified_params`: V3 signature over the
public URL, nonce taken once). The URL names the call's batch (`?nb=`, one
call per batch), and the callback must be about the call that batch placed
(shared.notices.calls.is_this_call); anything else hears a goodbye and
changes nothing. The answer only reads: the words were rendered once for the
whole send. The hang-up is logged once per call and moves the delivery to
delivered (answered) or failed (not answered) once; a notice starts no
follow-up, so nothing is handed to a worker.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from shared.core.db import session_scope
from shared.core.metrics import NOTICE_CALLS
from shared.core.models import utcnow
from shared.notices.calls import (
    ANSWER_PATH,
    ANSWERED,
    HANGUP_PATH,
    NOT_ANSWERED,
    goodbye_xml,
    notice_call_xml,
    record_hangup,
    words_for_call,
)
from shared.plivo.callback_urls import notice_batch_from
from webhooks.plivo_callbacks import verified_params

log = logging.getLogger(__name__)

bp = Blueprint("notice_voice", __name__)


def _database_url() -> str:
    return current_app.config["SETTINGS"].effective_database_url


@bp.post(ANSWER_PATH)
def answer() -> Response:
    params = verified_params("notice_voice_answer")
    if isinstance(params, Response):
        return params
    with session_scope(_database_url()) as session:
        words = words_for_call(session, notice_batch_from(request.args), params)
    if words is None:
        log.warning("notice call answered that no notice placed: %s", params.get("CallUUID"))
        return Response(goodbye_xml(), status=200, mimetype="application/xml")
    return Response(notice_call_xml(words), status=200, mimetype="application/xml")


@bp.post(HANGUP_PATH)
def hangup() -> Response:
    params = verified_params("notice_voice_hangup")
    if isinstance(params, Response):
        return params
    with session_scope(_database_url()) as session:
        outcome = record_hangup(session, notice_batch_from(request.args), params, utcnow())
    if outcome in (ANSWERED, NOT_ANSWERED):
        NOTICE_CALLS.labels(result=outcome).inc()
    elif outcome == "unknown_call":
        log.warning("hangup of a notice call no notice placed: %s", params.get("CallUUID"))
    return Response(f"{outcome}\n", status=200, mimetype="text/plain")
