"""POST /api/v1/alerts: accept an alert, store it, then hand it to the workers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import ValidationError
from sqlalchemy.orm import Session

from shared.alerts.ingest import IngestResult, ingest_all
from shared.alerts.schemas import AlertAction, AlertIn
from shared.core import strict_json
from shared.core.metrics import count_accepted, count_rejected
from shared.notifications.priority import page_priority
from webhooks.auth import authenticate
from webhooks.errors import ApiError
from webhooks.group_commit import GroupCommit
from worker.route_on_arrival import ArrivalRouter, RoutedHere, RoutingFailed

log = logging.getLogger(__name__)

# Alert ids are 32-bit integers in the database: a larger id is simply not
# found (404), rather than an error from the database driver.
ALERT_ID = "int(max=2147483647)"

bp = Blueprint("ingest", __name__)

_READ_CHUNK = 64 * 1024
TOO_LARGE = "request body too large"


def read_body() -> bytes:
    """The request body, never more than MAX_BODY_BYTES of it: 413 beyond.

    Read here, at most limit + 1 bytes, rather than trusting the server: a
    chunked body has no Content-Length to check up front, and what a server
    hands over past a limit differs (the development server stops at the
    limit, so the body looked merely truncated: a 400). Kept for the request,
    so the signature check and the parser see the same bytes.
    """
    cached = g.get("raw_body")
    if cached is not None:
        return cached
    limit = current_app.config["SETTINGS"].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = request.stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ApiError(413, TOO_LARGE)
    g.raw_body = b"".join(chunks)
    return g.raw_body


def parse_json(raw: bytes) -> Any:
    """The strict JSON reader's value: 400 naming what is wrong when it refuses."""
    try:
        return strict_json.loads(raw, what="body")
    except strict_json.JsonRefused as exc:
        raise ApiError(400, str(exc)) from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise ApiError(400, "body is not valid JSON") from None


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object: 400 when it is not JSON, 422 when not an object."""
    payload = parse_json(read_body())
    if not isinstance(payload, dict):
        raise ApiError(
            422, "body must be a JSON object", [{"field": "", "message": "not an object"}]
        )
    return payload


def validation_fields(exc: ValidationError) -> list[dict[str, Any]]:
    return [
        {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]}
        for error in exc.errors()
    ]


@dataclass(frozen=True)
class Accepted:
    result: IngestResult
    queued: bool  # False: stored, not routed here and the broker down; the tick hands it over


def accept_event(alert_in: AlertIn, *, via: str, scope: str) -> Accepted:
    """Store one event, count it, then enqueue routing for a new alert (see `accept_events`)."""
    [accepted] = accept_events([alert_in], via=via, scope=scope)
    return accepted


def accept_events(events: Sequence[AlertIn], *, via: str, scope: str) -> list[Accepted]:
    """Store every event of one request in one transaction, count them, then enqueue routing.

    Every ingestion endpoint ends here. The events are applied in the order
    sent, so a trigger then a resolve of one key within a body closes what it
    opened. All are committed together or none is: a 2xx means every event is
    stored, and an error leaves nothing behind, so the producer's retry of
    the whole body counts no occurrence twice. The commit comes before any
    publish; a broker outage only delays routing (the tick hands over alerts
    never dispatched). `scope` is what `authenticate` returned: the events act
    only on alerts of that scope.
    """
    router: ArrivalRouter | None = current_app.config.get("ROUTE_ON_ARRIVAL")
    if router is not None and not router.reserve(
        len(events), storing_elsewhere=group_commit().busy()
    ):
        router = None  # the workers route them
    routed: list[RoutedHere | None] = [None]
    order: list[tuple[int, int]] = []  # (event index, new alert), in routing order

    def store(session: Session) -> list[IngestResult]:
        results = ingest_all(session, events, via=via, integration=scope)
        order[:] = _new_order(events, results)
        if router is not None and order:
            routed[0] = router.route_in(session, [alert_id for _, alert_id in order])
        return results

    try:
        try:
            results = group_commit().run(store)
        except RoutingFailed:  # rolled back with the routing: stored again, for the workers
            if router is not None:
                router.abandon(None)
            router = None
            results = group_commit().run(store)
    except BaseException:
        if router is not None:
            router.abandon(routed[0])
        raise
    if router is not None and not order:
        router.abandon(None)  # nothing new to route (a deduplicated trigger, a resolve)
        router = None
    try:
        queued = _enqueue_new(events, order, router, routed[0])
    finally:
        # Counted and logged once the first page's request has left (or the routing
        # is published): a page routed here does not wait for its alert's log line.
        for result in results:
            count_accepted(via, result.outcome)
        _log_accepted(events, results, via)
    return [Accepted(result, queued.get(index, False)) for index, result in enumerate(results)]


def _log_accepted(events: Sequence[AlertIn], results: Sequence[IngestResult], via: str) -> None:
    """One INFO line per request: what each event did, by alert. A line per event made a
    body of 100 alerts a hundred masked and formatted records, a fifth of its time in
    the receiver; each event's own line is still there at DEBUG."""
    if len(events) == 1:
        log.info(
            "alert event via %s from %r: %s (alert %s)",
            via,
            events[0].source,
            results[0].outcome,
            results[0].alert_id,
        )
        return
    by_outcome: dict[str, list[int | None]] = {}
    for result in results:
        by_outcome.setdefault(result.outcome, []).append(result.alert_id)
    log.info(
        "%d alert events via %s: %s",
        len(events),
        via,
        "; ".join(f"{outcome} (alerts {_ids_text(ids)})" for outcome, ids in by_outcome.items()),
    )
    if log.isEnabledFor(logging.DEBUG):
        for alert_in, result in zip(events, results, strict=True):
            log.debug(
                "alert event via %s from %r: %s (alert %s)",
                via,
                alert_in.source,
                result.outcome,
                result.alert_id,
            )


def _ids_text(ids: Sequence[int | None]) -> str:
    return ", ".join("none" if i is None else str(i) for i in ids)


def group_commit() -> GroupCommit:
    """This process's group commit for alert events, made at first use: made before a
    gevent worker patches threading, its lock would block the whole process."""
    committer = current_app.extensions.get("alert_group_commit")
    if committer is None:
        url = current_app.config["SETTINGS"].effective_database_url
        committer = current_app.extensions["alert_group_commit"] = GroupCommit(url)
    return committer


def dispatch_order(events: Sequence[AlertIn], results: Sequence[IngestResult]) -> list[int]:
    """Indexes of the events that created an alert, most urgent first, else in body order:
    when a body opens many alerts, a critical one is not queued behind the rest."""
    new = [index for index, result in enumerate(results) if result.needs_dispatch]
    return sorted(new, key=lambda index: page_priority(events[index].severity))


# Alerts of one request routed by one task: enough for any Alertmanager group,
# few enough that the first page of a large body does not wait for the whole body.
DISPATCH_CHUNK = 50


def _new_order(events: Sequence[AlertIn], results: Sequence[IngestResult]) -> list[tuple[int, int]]:
    """Each event that created an alert, with that alert, in the order they are routed."""
    return [
        (index, alert_id)
        for index in dispatch_order(events, results)
        if (alert_id := results[index].alert_id) is not None
    ]


def _enqueue_new(
    events: Sequence[AlertIn],
    order: Sequence[tuple[int, int]],
    router: ArrivalRouter | None,
    routed: RoutedHere | None,
) -> dict[int, bool]:
    """Hand the new alerts over (`order`: `_new_order`, worked out once in the storing
    transaction); by event index, whether they are in hand.

    The new alerts of one request are routed together (most urgent first, at the
    priority of the most urgent), so one person's share of a group is paged as one
    message (worker.tasks.dispatch_alert). A receiver that routed them itself in
    the storing transaction (`router`, `routed`: worker.route_on_arrival) and sends
    their first page now; otherwise their routing task goes to the workers.
    """
    enqueue = current_app.config["ENQUEUE"]
    queued: dict[int, bool] = {}
    for begin in range(0, len(order), DISPATCH_CHUNK):
        chunk = order[begin : begin + DISPATCH_CHUNK]
        ids = [alert_id for _, alert_id in chunk]
        priority = page_priority(events[chunk[0][0]].severity)
        if router is not None:  # one chunk: a request routed here has few alerts
            took = router.hand_over(ids, priority, routed)
        else:
            took = enqueue.route_alerts(ids, priority)
        queued.update(dict.fromkeys((index for index, _ in chunk), took))
    return queued


def require_route_or_recipients(alert_in: AlertIn) -> None:
    """Without an on-call configuration, a new alert must say who to page."""
    settings = current_app.config["SETTINGS"]
    if (
        alert_in.action is AlertAction.TRIGGER
        and not alert_in.recipients
        and settings.config_file is None
    ):
        raise ApiError(
            422,
            "invalid alert",
            [
                {
                    "field": "recipients",
                    "message": "at least one is required when no on-call "
                    "configuration (CONFIG_FILE) routes alerts",
                }
            ],
        )


@bp.after_request
def _count_rejections(response: Response) -> Response:
    """A producer whose posts are refused (bad token, bad body, too large) shows on
    the dashboards rather than only in its own logs."""
    if 400 <= response.status_code < 500:
        count_rejected(response.status_code)
    return response


@bp.post("/api/v1/alerts")
def post_alert():  # type: ignore[no-untyped-def]
    scope = authenticate()
    payload = read_json_object()
    try:
        alert_in = AlertIn.model_validate(payload)
    except ValidationError as exc:
        raise ApiError(422, "invalid alert", validation_fields(exc)) from None
    require_route_or_recipients(alert_in)
    accepted = accept_event(alert_in, via="api", scope=scope)
    body = {
        "id": accepted.result.alert_id,
        "status": accepted.result.outcome,
        "queued": accepted.queued,
    }
    return jsonify(body), 202
