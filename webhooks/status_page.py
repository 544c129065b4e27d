"""GET /status: a read-only page for people on call, rendered on the server.

Open alerts with their escalation timelines, the latest notifications, the
rate limiter, the circuit breaker, the queues and the workers, on one page
that reloads itself. No JavaScript and no build step: a browser, a terminal
(`curl`) or a wall screen all get the same HTML.

Behind a token, as it names people and what reached them: STATUS_PAGE_TOKEN
when set, else one of API_TOKENS (`Settings.status_page_tokens`). It is read
from `Authorization: Bearer` or, for a browser, from `?token=`; either way it
is compared in constant time by the check every endpoint uses. Without a valid
token the answer is 401 and nothing else. The page is never cached and sends
no Referer, so the token in its URL does not travel on.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, current_app, render_template, request

from shared.alerts.integration_auth import token_matches
from shared.core.db import session_scope
from shared.core.models import utcnow
from webhooks.auth import bearer_token
from webhooks.errors import error_body
from webhooks.status_page_data import alerts_section
from webhooks.status_page_runtime import gather_runtime

bp = Blueprint("status_page", __name__, template_folder="templates")

REFRESH_S = 15
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
}


def human_duration(span: timedelta | float) -> str:
    """`95` or `timedelta(seconds=95)` as "1m 35s": what a person reads at a glance."""
    seconds = int(span.total_seconds() if isinstance(span, timedelta) else span)
    if seconds < 0:
        return "0s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{value}{unit}" for value, unit in parts if value][:2]
    return " ".join(shown) or "0s"


def presented_token() -> str | None:
    """The bearer token if a header carries one, else `?token=`; None without either."""
    from_header = bearer_token(request.headers.get("Authorization"))
    if from_header is not None:
        return from_header
    return request.args.get("token") or None


def _refused(message: str) -> Response:
    body, status = error_body(401, message)
    body.status_code = status
    body.headers["WWW-Authenticate"] = 'Bearer realm="status"'
    body.headers.update(HEADERS)
    return body


@bp.get("/status")
def status() -> Response:
    settings = current_app.config["SETTINGS"]
    presented = presented_token()
    if presented is None:
        return _refused("missing token: Authorization: Bearer <token>, or ?token=")
    if not token_matches(presented, settings.status_page_tokens):
        return _refused("invalid token")
    now = utcnow()
    with session_scope(settings.effective_database_url) as session:
        section = alerts_section(session)  # plain values: nothing is loaded after this
    html = render_template(
        "status.html",
        now=now,
        section=section,
        runtime=gather_runtime(settings, current_app.config["REDIS_URL"]),
        refresh_s=REFRESH_S,
        duration=human_duration,
    )
    return Response(html, mimetype="text/html", headers=HEADERS)
