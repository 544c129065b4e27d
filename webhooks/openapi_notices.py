"""The notices part of /openapi.json: its paths, and the rules of the notice models'
validator functions spelled out as schema (webhooks.openapi puts it together).

A notice's fields take what a person writes in the on-call file: a local
start without offset, durations like `2h`, reminders like `-24h`. The model
reads them with validator functions, which pydantic cannot describe, so the
generated schemas get those forms here. What no schema can hold (the names
the on-call file declares, placeholders, a window in the past, a recurrence
that never fires, an SMS over 10 segments) is refused with 422 naming the field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.notices.model import Notice
from shared.notices.updates import NoticeChange
from webhooks import api_models as m
from webhooks import notice_api_models as n
from webhooks.openapi_components import ref

BEARER = [{"bearerAuth": []}]
# 2h, 1h30m, 90m, 45s: at least one part, in this order (no lookahead: generators lack it).
SPAN = r"\d+h(\d+m)?(\d+s)?|\d+m(\d+s)?|\d+s"
LOCAL_TIME = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$",
    "description": "Local date and time in the window's `time_zone`, without offset.",
}
DURATION = {
    "anyOf": [
        {"type": "integer", "minimum": 1},
        {"type": "string", "pattern": rf"^(\d+|{SPAN})$"},
    ],
    "description": "Seconds, or a duration like 30m, 2h, 1h30m.",
}
REMINDER_TEXT = {
    "type": "string",
    "pattern": rf"^ *(start|end|(start|end)? *[+-] *({SPAN})) *$",
    "description": "-24h, -1h, -30m, start, end, end+30m.",
}


def patch_schemas(schemas: dict[str, Any]) -> None:
    """Give the notice models' fields the forms their validator functions read."""
    window = schemas["Window"]["properties"]
    window["start"] = dict(LOCAL_TIME)
    window["duration"] = dict(DURATION)
    change = schemas["WindowChange"]["properties"]
    change["start"] = {"anyOf": [dict(LOCAL_TIME), {"type": "null"}], "default": None}
    change["duration"] = {"anyOf": [*DURATION["anyOf"], {"type": "null"}], "default": None}
    schemas["NoticeChange"]["properties"]["extend"] = {
        "anyOf": [*DURATION["anyOf"], {"type": "null"}],
        "default": None,
        "description": "Make the window this much longer: a later end.",
    }
    reminder = schemas["Reminder"]
    schemas["Reminder"] = {
        "description": reminder.get("description", ""),
        "anyOf": [dict(REMINDER_TEXT), {k: v for k, v in reminder.items() if k != "description"}],
    }


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def _body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": ref(model)}}}


NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 64},
}
BAD_JSON = _json(m.Error, "The body is not valid JSON.")
UNAUTHORIZED = _json(m.Error, "Missing or wrong bearer token.")
TOO_LARGE = _json(m.Error, "The body is larger than MAX_BODY_BYTES.")
NOT_FOUND = _json(m.Error, "No notice of that name (in the on-call file or made by API).")
UNAVAILABLE = _json(m.Error, "The database is unreachable: nothing was changed; retry later.")
REFUSED = _json(
    m.Error,
    "Refused: `fields` names each field at fault (an unknown team or contact, a placeholder "
    "that does not exist, a window in the past, a recurrence that never fires, an SMS over "
    "10 segments). Nothing was stored or changed.",
)


def _cancel(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "description": "Nothing more of it is sent: pending messages are skipped. Safe to "
        "repeat (`changed` false). A notice of the on-call file is cancelled too.",
        "security": BEARER,
        "parameters": [NAME],
        "requestBody": _body(m.ActionBy, required=False),
        "responses": {
            "200": _json(n.NoticeCancelled, "Cancelled, now or before."),
            "400": BAD_JSON,
            "401": UNAUTHORIZED,
            "404": NOT_FOUND,
            "413": TOO_LARGE,
            "422": _json(m.Error, "`by` is wrong."),
            "503": UNAVAILABLE,
        },
    }


NOTICES: dict[str, Any] = {
    "get": {
        "summary": "Every maintenance notice: the on-call file's and those made by API",
        "security": BEARER,
        "responses": {
            "200": _json(n.NoticeList, "The notices, with their next window."),
            "401": UNAUTHORIZED,
            "503": UNAVAILABLE,
        },
    },
    "post": {
        "summary": "Create a maintenance notice",
        "description": "Checked as the on-call file's notices are, against its contacts, "
        "teams and subscriber lists; beat sends it like the file's.",
        "security": BEARER,
        "requestBody": _body(Notice),
        "responses": {
            "201": _json(n.NoticeView, "Stored."),
            "400": BAD_JSON,
            "401": UNAUTHORIZED,
            "409": _json(m.Error, "The name is taken (by the on-call file or another notice)."),
            "413": TOO_LARGE,
            "422": REFUSED,
            "503": UNAVAILABLE,
        },
    },
}

NOTICE: dict[str, Any] = {
    "get": {
        "summary": "A notice: its definition, next windows with their reminders, its sends",
        "security": BEARER,
        "parameters": [NAME],
        "responses": {
            "200": _json(n.NoticeView, "The notice."),
            "401": UNAUTHORIZED,
            "404": NOT_FOUND,
            "503": UNAVAILABLE,
        },
    },
    "patch": {
        "summary": "Change a notice's window or words",
        "description": "People already handed the old words about a window get a correction "
        '("Update: ... now ends at ..."); messages not yet sent go with the new words; '
        "reminders already sent are not repeated. A refused change leaves everything as it "
        "was. Notices of the on-call file are changed in the file (409 here).",
        "security": BEARER,
        "parameters": [NAME],
        "requestBody": _body(NoticeChange),
        "responses": {
            "200": _json(n.NoticeUpdated, "Changed; corrections queued."),
            "400": BAD_JSON,
            "401": UNAUTHORIZED,
            "404": NOT_FOUND,
            "409": _json(m.Error, "A notice of the on-call file, or a cancelled one."),
            "413": TOO_LARGE,
            "422": REFUSED,
            "503": UNAVAILABLE,
        },
    },
    "delete": _cancel("Cancel a notice"),
}

STATUS: dict[str, Any] = {
    "get": {
        "summary": "How far a notice's sending has gone, as `alert-dispatch notice status`",
        "security": BEARER,
        "parameters": [
            NAME,
            {
                "name": "send",
                "in": "query",
                "required": False,
                "schema": {"type": "string"},
                "description": "One send's id (as `sends[].id` of the notice); default: the "
                "sends going out, else the latest ones.",
            },
        ],
        "responses": {
            "200": _json(n.NoticeStatus, "The figures."),
            "401": UNAUTHORIZED,
            "404": _json(m.Error, "No such notice, or no such send of it."),
            "503": UNAVAILABLE,
        },
    }
}

PATHS: dict[str, Any] = {
    "/api/v1/notices": NOTICES,
    "/api/v1/notices/{name}": NOTICE,
    "/api/v1/notices/{name}/cancel": {"post": _cancel("Cancel a notice (as DELETE)")},
    "/api/v1/notices/{name}/status": STATUS,
}
