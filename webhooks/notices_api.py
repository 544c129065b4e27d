"""Maintenance notices over the API: /api/v1/notices, as `alert-dispatch notice` does them.

GET lists every notice (the on-call file's and those made here); POST creates
one, checked exactly as the file's (shared.notices.definitions: 422 naming
each field at fault, 409 for a name taken); GET /{name} shows it with its next
windows and its sends; PATCH changes its window or words (a correction to
those already told, the new words to the rest; a refused change writes
nothing); DELETE or POST /{name}/cancel cancels it (idempotent, audited);
GET /{name}/status gives the progress figures of `notice status`. The alert
API's bearer tokens (API_TOKENS), checked before anything else is read.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.models import NoticeRecord, NoticeSend, utcnow
from shared.core.settings import Settings
from shared.notices import managed
from shared.notices.definitions import (
    DefinitionError,
    Problem,
    check_definition,
    model_problems,
    stored_notice,
    to_definition,
)
from shared.notices.model import Notice
from shared.notices.store import FILE
from shared.notices.updates import NoticeChange
from shared.notices.views import (
    list_view,
    progress_of,
    sending_rate,
    show_view,
    status_sends,
    status_view,
)
from shared.routing.config_models import OncallConfig
from shared.routing.route import current_config
from webhooks.api_models import ActionBy
from webhooks.auth import authenticate
from webhooks.errors import ApiError
from webhooks.ingest import parse_json, read_body, read_json_object

log = logging.getLogger(__name__)

bp = Blueprint("notices_api", __name__)

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
BY_API = "api"


def _settings() -> Settings:
    return current_app.config["SETTINGS"]


def _config() -> OncallConfig | None:
    return current_config(_settings().config_file)


def _invalid(exc: DefinitionError | list[Problem], message: str = "invalid notice") -> ApiError:
    problems = exc.problems if isinstance(exc, DefinitionError) else exc
    fields = [{"field": p.field, "message": p.message} for p in problems]
    return ApiError(422, message, fields)


def _conflict(exc: managed.NoticeConflict) -> ApiError:
    fields = [{"field": exc.field, "message": str(exc)}] if exc.field else None
    return ApiError(409, str(exc), fields)


def _checked_name(name: str) -> str:
    """A name that cannot be a notice's is simply not found."""
    if not NAME_PATTERN.fullmatch(name):
        raise ApiError(404, f'no notice "{name}"')
    return name


def _notice(
    session: Session, name: str, config: OncallConfig | None
) -> tuple[NoticeRecord | None, Notice]:
    record = managed.find(session, _checked_name(name))
    notice = managed.notice_of(record, config, name)
    if notice is None:
        raise ApiError(404, f'no notice "{name}"')
    return record, notice


def _show(session: Session, name: str, config: OncallConfig | None, now: datetime) -> Any:
    record, notice = _notice(session, name, config)
    source = record.source if record is not None else FILE
    return show_view(session, name, source, notice, to_definition(notice), record, now)


@bp.get("/api/v1/notices")
def list_notices():  # type: ignore[no-untyped-def]
    authenticate()
    config = _config()
    file_notices = dict(config.notices) if config is not None else {}
    with session_scope(_settings().effective_database_url) as session:
        records = list(session.scalars(select(NoticeRecord)))
    stored: dict[str, Notice] = {}
    for record in records:
        if record.definition is not None:
            try:
                stored[record.name] = stored_notice(record.definition)
            except ValidationError:
                log.error("notice %s: stored definition invalid", record.name)
    return jsonify({"notices": list_view(file_notices, records, stored, utcnow())})


@bp.post("/api/v1/notices")
def create_notice():  # type: ignore[no-untyped-def]
    authenticate()
    payload = read_json_object()
    config, now = _config(), utcnow()
    with session_scope(_settings().effective_database_url) as session:
        try:
            notice = check_definition(payload, config, now, managed.stored_list_names(session))
            managed.create(session, notice, config, now, BY_API)
        except DefinitionError as exc:
            raise _invalid(exc) from None
        except managed.NoticeConflict as exc:
            raise _conflict(exc) from None
    log.info("notice %s created via api", notice.name)
    with session_scope(_settings().effective_database_url) as session:
        view = _show(session, notice.name, config, now)
    return jsonify(view), 201


@bp.get("/api/v1/notices/<name>")
def get_notice(name: str):  # type: ignore[no-untyped-def]
    authenticate()
    with session_scope(_settings().effective_database_url) as session:
        view = _show(session, name, _config(), utcnow())
    return jsonify(view)


@bp.patch("/api/v1/notices/<name>")
def update_notice(name: str):  # type: ignore[no-untyped-def]
    authenticate()
    _checked_name(name)
    payload = read_json_object()
    try:
        change = NoticeChange.model_validate(payload)
    except ValidationError as exc:
        raise _invalid(model_problems(exc), "invalid change") from None
    config, now = _config(), utcnow()
    with session_scope(_settings().effective_database_url) as session:
        try:
            _, applied = managed.update_notice(session, name, change, config, now, BY_API)
        except LookupError:
            raise ApiError(404, f'no notice "{name}"') from None
        except managed.NoticeConflict as exc:
            raise _conflict(exc) from None
        except DefinitionError as exc:
            raise _invalid(exc, "invalid change") from None
    queued = all(current_app.config["ENQUEUE"].notice_send_batch(i) for i in applied.new_sends)
    log.info("notice %s updated via api: %d send(s) started", name, len(applied.new_sends))
    with session_scope(_settings().effective_database_url) as session:
        view = _show(session, name, config, now)
    return jsonify(
        {
            "name": name,
            "corrected": applied.corrected,
            "rewritten": applied.rewritten,
            "moved_reminders": applied.moved_reminders,
            "new_sends": list(applied.new_sends),
            "queued": queued,
            "notice": view,
        }
    )


def _by() -> str:
    """Who cancels: `by` from an optional JSON body, else the API."""
    raw = read_body()
    payload = parse_json(raw) if raw.strip() else {}
    if not isinstance(payload, dict):
        raise ApiError(
            422, "body must be a JSON object", [{"field": "", "message": "not an object"}]
        )
    try:
        return ActionBy.model_validate(payload).by.strip()
    except ValidationError as exc:
        raise _invalid(model_problems(exc), "invalid request") from None


def _cancel(name: str):  # type: ignore[no-untyped-def]
    authenticate()
    _checked_name(name)
    by = _by()
    config, now = _config(), utcnow()
    with session_scope(_settings().effective_database_url) as session:
        record = session.get(NoticeRecord, name, with_for_update=True)
        if record is None and (config is None or name not in config.notices):
            raise ApiError(404, f'no notice "{name}"')
        outcome = managed.cancel(session, record, name, now, by)
        row = managed.find(session, name)
        at = row.cancelled_at if row is not None and row.cancelled_at is not None else now
    if outcome.changed:
        log.info("notice %s cancelled via api", name)
    return jsonify(
        {
            "name": name,
            "changed": outcome.changed,
            "cancelled_at": at.isoformat(),
            "sends_stopped": outcome.sends,
            "deliveries_skipped": outcome.skipped,
        }
    )


@bp.delete("/api/v1/notices/<name>")
def delete_notice(name: str):  # type: ignore[no-untyped-def]
    return _cancel(name)


@bp.post("/api/v1/notices/<name>/cancel")
def cancel_notice(name: str):  # type: ignore[no-untyped-def]
    return _cancel(name)


@bp.get("/api/v1/notices/<name>/status")
def notice_status(name: str):  # type: ignore[no-untyped-def]
    """The figures of `notice status`: the notice's sends in view, or `?send=ID`."""
    authenticate()
    send_id = request.args.get("send")
    settings = _settings()
    rate = sending_rate(
        settings.sms_per_second, settings.sender_sms_per_second, len(settings.sender_numbers)
    )
    now = utcnow()
    with session_scope(settings.effective_database_url) as session:
        _notice(session, name, _config())
        sends = status_sends(session, notice=name, send_id=send_id)
        if send_id is not None and not _belongs(sends, name):
            raise ApiError(404, f'no send "{send_id}" of notice "{name}"')
        view = status_view(name, sends, progress_of(session, sends, rate, now))
    return jsonify(view)


def _belongs(sends: list[NoticeSend], name: str) -> bool:
    return bool(sends) and all(send.notice == name for send in sends)
