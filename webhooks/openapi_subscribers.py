"""The subscriber-lists part of /openapi.json: its paths (webhooks.openapi puts it together).

The bodies are the models of webhooks.subscriber_api_models, generated as
components like every other; this writes out routes, parameters and what
each status means. The contract test fuzzes the served receiver against it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from webhooks import api_models as m
from webhooks import subscriber_api_models as s
from webhooks.openapi_components import ref

BEARER = [{"bearerAuth": []}]


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(model)}}}


NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 64},
}
UNAUTHORIZED = _json(m.Error, "Missing or wrong bearer token.")
BAD_JSON = _json(m.Error, "The body is not valid JSON.")
TOO_LARGE = _json(m.Error, "The body is larger than MAX_BODY_BYTES.")
INVALID = _json(m.Error, "Fields missing or wrong, each named (`numbers.3`); nothing changed.")
NO_LIST = _json(m.Error, "No such list (stored here, for changes).")
UNAVAILABLE = _json(m.Error, "The database is unreachable; retry later.")


def _change(summary: str, answer: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": BEARER,
        "parameters": [NAME],
        "requestBody": _body(s.NumbersIn),
        "responses": {
            "200": _json(answer, description),
            "400": BAD_JSON,
            "401": UNAUTHORIZED,
            "404": NO_LIST,
            "413": TOO_LARGE,
            "422": INVALID,
            "503": UNAVAILABLE,
        },
    }


PATHS: dict[str, Any] = {
    "/api/v1/subscriber-lists": {
        "get": {
            "summary": "Every subscriber list, stored here or in the on-call file",
            "security": BEARER,
            "responses": {
                "200": _json(s.SubscriberLists, "The lists, by name."),
                "401": UNAUTHORIZED,
                "503": UNAVAILABLE,
            },
        },
        "post": {
            "summary": "Create a stored subscriber list, with its first numbers",
            "security": BEARER,
            "requestBody": _body(s.SubscriberListIn),
            "responses": {
                "201": _json(s.SubscriberListView, "Created."),
                "400": BAD_JSON,
                "401": UNAUTHORIZED,
                "409": _json(m.Error, "A stored list has that name."),
                "413": TOO_LARGE,
                "422": INVALID,
                "503": UNAVAILABLE,
            },
        },
    },
    "/api/v1/subscriber-lists/{name}": {
        "get": {
            "summary": "A subscriber list's numbers (stored here and in the on-call file)",
            "security": BEARER,
            "parameters": [NAME],
            "responses": {
                "200": _json(s.SubscriberListView, "The list."),
                "401": UNAUTHORIZED,
                "404": _json(m.Error, "No such list."),
                "503": UNAVAILABLE,
            },
        },
        "delete": {
            "summary": "Remove a stored subscriber list and its numbers",
            "security": BEARER,
            "parameters": [NAME],
            "responses": {
                "200": _json(s.ListDeleted, "Removed."),
                "401": UNAUTHORIZED,
                "404": NO_LIST,
                "503": UNAVAILABLE,
            },
        },
    },
    "/api/v1/subscriber-lists/{name}/numbers": {
        "post": _change("Add numbers to a stored list", s.NumbersAdded, "Added."),
        "delete": _change("Take numbers off a stored list", s.NumbersRemoved, "Removed."),
    },
}
