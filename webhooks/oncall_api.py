"""Who is on call, and overrides, over the API: as `alert-dispatch oncall`.

GET /api/v1/oncall answers for every schedule of the on-call file, GET
/api/v1/oncall/{schedule} for one, each at `?at=` (default now) with the next
`?next=` hand-offs. GET and POST /api/v1/schedules/{schedule}/overrides list
and make overrides, DELETE .../overrides/{id} takes one back. A time is ISO
8601 with an offset, or without one a wall time in the schedule's zone. Bad
input is 422 naming the field (`at`, `next`, `covering`, `replaces`, `start`,
`end`); a schedule the file does not have is 404. The alert API's bearer
tokens (API_TOKENS), checked before anything else is read.
"""

from __future__ import annotations

import logging
from datetime import datetime

from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError

from shared.alerts.listing import MAX_ID
from shared.core.db import read_scope, session_scope
from shared.core.models import utcnow
from shared.routing.config_models import OncallConfig
from shared.routing.route import current_config
from shared.schedules.model import Schedule
from shared.schedules.override_store import (
    OverrideNotFound,
    OverrideRefused,
    checked_override,
    create_override,
    list_overrides,
    oncall_view,
    override_view,
    parse_moment,
    read_moment,
    remove_override,
)
from webhooks.auth import authenticate
from webhooks.errors import ApiError
from webhooks.ingest import read_json_object, validation_fields
from webhooks.oncall_api_models import MAX_NEXT, OverrideIn

log = logging.getLogger(__name__)

bp = Blueprint("oncall_api", __name__)

ONCALL = "/api/v1/oncall"
OVERRIDES = "/api/v1/schedules/<schedule>/overrides"
DEFAULT_NEXT = 3
FLAGS = {"true": True, "false": False}


def _database_url() -> str:
    return str(current_app.config["SETTINGS"].effective_database_url)


def _config() -> OncallConfig | None:
    return current_config(current_app.config["SETTINGS"].config_file)


def _schedule(name: str) -> tuple[OncallConfig, Schedule]:
    """The file and its schedule `name`; 404 when the file has none of that name."""
    config = _config()
    found = config.schedule_named(name) if config is not None else None
    if config is None or found is None:
        raise ApiError(404, f'no schedule "{name}"')
    return config, found


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, f"{field}: {message}", [{"field": field, "message": message}])


def _count() -> int:
    text = request.args.get("next")
    if text is None:
        return DEFAULT_NEXT
    if not text.isascii() or not text.isdigit() or int(text) > MAX_NEXT:
        raise _invalid("next", f"a whole number from 0 to {MAX_NEXT}")
    return int(text)


def _moment(field: str, text: str | None, schedule: Schedule) -> datetime:
    if text is None:
        return utcnow()
    try:
        return read_moment(text, schedule.zone)
    except ValueError as exc:
        raise _invalid(field, str(exc)) from None


@bp.get(ONCALL)
def get_everyone():  # type: ignore[no-untyped-def]
    authenticate()
    count, text = _count(), request.args.get("at")
    if text is not None:
        try:
            parse_moment(text)  # refused even when the file has no schedule to read it for
        except ValueError as exc:
            raise _invalid("at", str(exc)) from None
    config = _config()
    schedules = [config.schedules[n] for n in sorted(config.schedules)] if config else []
    moments = [_moment("at", text, schedule) for schedule in schedules]
    with read_scope(_database_url()) as session:
        views = [
            oncall_view(session, schedule, at, count)
            for schedule, at in zip(schedules, moments, strict=True)
        ]
    return jsonify({"schedules": views})


@bp.get(f"{ONCALL}/<schedule>")
def get_schedule(schedule: str):  # type: ignore[no-untyped-def]
    authenticate()
    _, found = _schedule(schedule)
    count = _count()
    at = _moment("at", request.args.get("at"), found)
    with read_scope(_database_url()) as session:
        view = oncall_view(session, found, at, count)
    return jsonify(view)


@bp.get(OVERRIDES)
def get_overrides(schedule: str):  # type: ignore[no-untyped-def]
    authenticate()
    _schedule(schedule)
    flag = request.args.get("all", "false")
    if flag not in FLAGS:
        raise _invalid("all", "true or false")
    with read_scope(_database_url()) as session:
        found = list_overrides(session, utcnow(), schedule, include_past=FLAGS[flag])
    return jsonify({"overrides": [override_view(item) for item in found]})


@bp.post(OVERRIDES)
def post_override(schedule: str):  # type: ignore[no-untyped-def]
    authenticate()
    config, found = _schedule(schedule)
    try:
        wanted = OverrideIn.model_validate(read_json_object())
    except ValidationError as exc:
        raise ApiError(422, "invalid override", validation_fields(exc)) from None
    start = _moment("start", wanted.start, found)
    end = _moment("end", wanted.end, found)
    try:
        override = checked_override(config, schedule, wanted.covering, start, end, wanted.replaces)
    except OverrideRefused as exc:
        raise _invalid(exc.field, exc.message) from None
    with session_scope(_database_url()) as session:
        stored = create_override(session, override, utcnow(), wanted.by.strip())
    log.info("override %s of schedule %s created via api", stored.override.id, schedule)
    return jsonify(override_view(stored)), 201


@bp.delete(f"{OVERRIDES}/<int:override_id>")
def delete_override(schedule: str, override_id: int):  # type: ignore[no-untyped-def]
    authenticate()
    if not 1 <= override_id <= MAX_ID:
        raise ApiError(404, f"override {override_id} not found")
    try:
        with session_scope(_database_url()) as session:
            removed = remove_override(session, override_id, utcnow(), "api", schedule)
    except OverrideNotFound as exc:
        raise ApiError(404, str(exc)) from None
    log.info("override %s of schedule %s removed via api", override_id, schedule)
    return jsonify(override_view(removed))
