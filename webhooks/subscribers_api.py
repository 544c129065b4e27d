"""Subscriber lists over the API: /api/v1/subscriber-lists, as `alert-dispatch subscribers`.

GET lists every list (stored here or in the on-call file) with its counts;
POST creates a stored list (409 for a stored name taken); GET /{name} shows
its numbers, DELETE /{name} removes the stored list; POST and DELETE
/{name}/numbers add and remove numbers. Every number is an international
number checked with phonenumbers; one that is not is named (`numbers.3`,
422) and nothing changes. The alert API's bearer tokens (API_TOKENS), checked
before anything else is read. Lists in the on-call file are edited there.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from flask import Blueprint, current_app, jsonify
from pydantic import BaseModel, ValidationError

from shared.core.db import session_scope
from shared.core.models import utcnow
from shared.notices.subscriber_input import LIST_NAME
from shared.notices.subscriber_store import (
    add_numbers,
    create_list,
    delete_list,
    remove_numbers,
    stored_lists,
    stored_numbers,
)
from shared.routing.route import current_config
from webhooks.auth import authenticate
from webhooks.errors import ApiError
from webhooks.ingest import read_json_object, validation_fields
from webhooks.subscriber_api_models import NumbersIn, SubscriberListIn

log = logging.getLogger(__name__)

bp = Blueprint("subscribers_api", __name__)

LISTS = "/api/v1/subscriber-lists"
Body = TypeVar("Body", bound=BaseModel)


def _database_url() -> str:
    return str(current_app.config["SETTINGS"].effective_database_url)


def _file_lists() -> dict[str, tuple[str, ...]]:
    config = current_config(current_app.config["SETTINGS"].config_file)
    if config is None:
        return {}
    return {name: entry.numbers for name, entry in config.subscriber_lists.items()}


def _body(model: type[Body]) -> Body:
    payload = read_json_object()
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ApiError(422, "invalid request", validation_fields(exc)) from None


def _known(name: str) -> str:
    """A name a list may have, else 404 (no list can have it)."""
    if LIST_NAME.fullmatch(name) is None:
        raise ApiError(404, f"no subscriber list {name!r}")
    return name


def _no_stored(name: str) -> ApiError:
    hint = " (lists of the on-call file are edited there)" if name in _file_lists() else ""
    return ApiError(404, f"no stored subscriber list {name!r}{hint}")


@bp.get(LISTS)
def get_lists():  # type: ignore[no-untyped-def]
    authenticate()
    with session_scope(_database_url()) as session:
        stored = stored_lists(session)
    in_file = _file_lists()
    lists = [
        {
            "name": name,
            "stored": stored.get(name),
            "in_file": len(in_file[name]) if name in in_file else None,
        }
        for name in sorted({*stored, *in_file})
    ]
    return jsonify({"lists": lists})


@bp.post(LISTS)
def post_list():  # type: ignore[no-untyped-def]
    authenticate()
    wanted = _body(SubscriberListIn)
    now = utcnow()
    with session_scope(_database_url()) as session:
        if not create_list(session, wanted.name, now):
            raise ApiError(409, f"subscriber list {wanted.name!r} exists")
        add_numbers(session, wanted.name, wanted.numbers, now)
    log.info("subscriber list %s created with %d number(s)", wanted.name, len(wanted.numbers))
    return jsonify(_view(wanted.name)), 201


def _view(name: str) -> dict[str, Any]:
    with session_scope(_database_url()) as session:
        stored = stored_numbers(session, name)
    in_file = _file_lists().get(name)
    if stored is None and in_file is None:
        raise ApiError(404, f"no subscriber list {name!r}")
    numbers = list(dict.fromkeys((*(in_file or ()), *(stored or ()))))
    in_file_list = list(in_file) if in_file is not None else None
    return {"name": name, "numbers": numbers, "stored": stored, "in_file": in_file_list}


@bp.get(f"{LISTS}/<name>")
def get_list(name: str):  # type: ignore[no-untyped-def]
    authenticate()
    return jsonify(_view(_known(name)))


@bp.delete(f"{LISTS}/<name>")
def delete_stored_list(name: str):  # type: ignore[no-untyped-def]
    authenticate()
    name = _known(name)
    with session_scope(_database_url()) as session:
        removed = delete_list(session, name)
    if removed is None:
        raise _no_stored(name)
    log.info("subscriber list %s removed with %d number(s)", name, removed)
    return jsonify({"name": name, "removed_numbers": removed})


@bp.post(f"{LISTS}/<name>/numbers")
def post_numbers(name: str):  # type: ignore[no-untyped-def]
    authenticate()
    name = _known(name)
    wanted = _body(NumbersIn)
    with session_scope(_database_url()) as session:
        added = add_numbers(session, name, wanted.numbers, utcnow())
    if added is None:
        raise _no_stored(name)
    log.info("subscriber list %s: %d number(s) added", name, added.added)
    return jsonify(
        {"name": name, "added": added.added, "already": added.already, "total": added.total}
    )


@bp.delete(f"{LISTS}/<name>/numbers")
def delete_numbers(name: str):  # type: ignore[no-untyped-def]
    authenticate()
    name = _known(name)
    wanted = _body(NumbersIn)
    with session_scope(_database_url()) as session:
        removed = remove_numbers(session, name, wanted.numbers, utcnow())
    if removed is None:
        raise _no_stored(name)
    log.info("subscriber list %s: %d number(s) removed", name, removed.removed)
    return jsonify(
        {
            "name": name,
            "removed": removed.removed,
            "missing": removed.missing,
            "total": removed.total,
        }
    )
