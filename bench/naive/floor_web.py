"""The floor pager: `gunicorn -k gevent bench.naive.floor_web:app`.

Not a pager anyone should run: it answers an alert's POST by sending its SMS
from the request itself, and stores nothing and queues nothing. Whatever else
a pager does (storing the alert, a broker, routing, limits, an audit trail)
only adds to this. Run beside the naive pager on the same machine, its rate
is about the most a pager built of these parts (gunicorn with gevent, Flask,
the Plivo client, the simulator's delivery reports) takes in: a goal set
above it is not met by doing less, only by other parts or another machine.

It keeps what a receiver cannot skip: the bearer token, the alert's body, and
the V3 signature of each delivery report (answered, then dropped).
"""

from __future__ import annotations

import os

from flask import Response, jsonify

from bench.naive.checks import checked_alert, invalid_signature, pager_app, verified_report
from bench.naive.config import STATUS_PATH
from bench.naive.tasks import client_for, config

app = pager_app(__name__)


@app.post("/api/v1/alerts")
def post_alert() -> tuple[Response, int]:
    """Check the token and the body, send one SMS per recipient, answer."""
    body, refused = checked_alert()
    if refused is not None:
        return refused
    settings = config()
    recipients = body.get("recipients") or []
    for number in recipients:
        client_for(os.getpid()).send_sms(
            src=settings.plivo_from,
            dst=number,
            text=body["summary"],
            callback_url=f"{settings.public_url}{STATUS_PATH}",
        )
    # The id the benchmark's client reads: there is no row, so 0 (nothing stored).
    return jsonify({"id": 0, "status": "sent", "sent": len(recipients), "queued": False}), 202


@app.post(STATUS_PATH)
def sms_status() -> Response:
    """Check the signature and answer; the report is not kept."""
    if verified_report() is None:
        return invalid_signature()
    return Response("ok\n", status=200, mimetype="text/plain")
