"""The on-call part of /openapi.json: who is on call, and schedule overrides
(webhooks.openapi puts it together).

The bodies are the models of webhooks.oncall_api_models, generated as
components like every other; this writes out routes, parameters and what
each status means. The contract test fuzzes the served receiver against it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.alerts.listing import MAX_ID
from webhooks import api_models as m
from webhooks import oncall_api_models as o
from webhooks.openapi_components import ref

BEARER = [{"bearerAuth": []}]


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


SCHEDULE = {
    "name": "schedule",
    "in": "path",
    "required": True,
    "description": "A schedule of the on-call file (`schedules:`).",
    "schema": {"type": "string", "minLength": 1},
}
OVERRIDE_ID = {
    "name": "override_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
AT = {
    "name": "at",
    "in": "query",
    "required": False,
    "description": "When (default: now). ISO 8601 with an offset, or without one a wall "
    "time in each schedule's own time zone.",
    "schema": {"type": "string", "format": "date-time"},
}
NEXT = {
    "name": "next",
    "in": "query",
    "required": False,
    "description": "How many hand-offs after `at` to list.",
    "schema": {"type": "integer", "minimum": 0, "maximum": o.MAX_NEXT, "default": 3},
}
ALL = {
    "name": "all",
    "in": "query",
    "required": False,
    "description": "Also the overrides that are over or were removed.",
    "schema": {"type": "boolean", "default": False},
}
UNAUTHORIZED = _json(m.Error, "Missing or wrong bearer token.")
NO_SCHEDULE = _json(m.Error, "The on-call file has no schedule of that name.")
INVALID = _json(m.Error, "A parameter or field is wrong: each is named (`at`, `end`, ...).")
UNAVAILABLE = _json(m.Error, "The database is unreachable; retry later.")

PATHS: dict[str, Any] = {
    "/api/v1/oncall": {
        "get": {
            "summary": "Who is on call in every schedule, and the next hand-offs",
            "security": BEARER,
            "parameters": [AT, NEXT],
            "responses": {
                "200": _json(o.OncallList, "Every schedule of the on-call file, by name."),
                "401": UNAUTHORIZED,
                "422": INVALID,
                "503": UNAVAILABLE,
            },
        },
    },
    "/api/v1/oncall/{schedule}": {
        "get": {
            "summary": "Who is on call in one schedule, and the next hand-offs",
            "security": BEARER,
            "parameters": [SCHEDULE, AT, NEXT],
            "responses": {
                "200": _json(o.OncallView, "Overrides included."),
                "401": UNAUTHORIZED,
                "404": NO_SCHEDULE,
                "422": INVALID,
                "503": UNAVAILABLE,
            },
        },
    },
    "/api/v1/schedules/{schedule}/overrides": {
        "get": {
            "summary": "A schedule's overrides in force or to come, by start",
            "security": BEARER,
            "parameters": [SCHEDULE, ALL],
            "responses": {
                "200": _json(o.OverrideList, "The overrides."),
                "401": UNAUTHORIZED,
                "404": NO_SCHEDULE,
                "422": INVALID,
                "503": UNAVAILABLE,
            },
        },
        "post": {
            "summary": "Someone covers a schedule for a while",
            "security": BEARER,
            "parameters": [SCHEDULE],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref(o.OverrideIn)}},
            },
            "responses": {
                "201": _json(o.OverrideView, "Stored, and recorded in the event log."),
                "400": _json(m.Error, "The body is not valid JSON."),
                "401": UNAUTHORIZED,
                "404": NO_SCHEDULE,
                "413": _json(m.Error, "The body is larger than MAX_BODY_BYTES."),
                "422": INVALID,
                "503": UNAVAILABLE,
            },
        },
    },
    "/api/v1/schedules/{schedule}/overrides/{override_id}": {
        "delete": {
            "summary": "Take an override back",
            "security": BEARER,
            "parameters": [SCHEDULE, OVERRIDE_ID],
            "responses": {
                "200": _json(o.OverrideView, "Removed (`removed_at` set)."),
                "401": UNAUTHORIZED,
                "404": _json(m.Error, "No such override of that schedule, or removed already."),
                "503": UNAVAILABLE,
            },
        },
    },
}
