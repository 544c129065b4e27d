"""JSON errors for every failure, and never a stack trace to a client."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client can act on: its status, message and the fields at fault."""

    def __init__(self, status: int, message: str, fields: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []


def error_body(status: int, message: str, fields: list[dict[str, Any]] | None = None):  # type: ignore[no-untyped-def]
    body: dict[str, Any] = {"error": message, "status": status}
    if fields:
        body["fields"] = fields
    return jsonify(body), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):  # type: ignore[no-untyped-def]
        return error_body(exc.status, exc.message, exc.fields)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        messages = {413: "request body too large", 405: "method not allowed", 404: "not found"}
        return error_body(exc.code or 500, messages.get(exc.code or 0, exc.name.lower()))

    @app.errorhandler(SQLAlchemyError)
    def _database_down(exc: SQLAlchemyError):  # type: ignore[no-untyped-def]
        # Never a 2xx for something not stored: the producer must retry.
        log.error("database unavailable: %s", type(exc).__name__)
        return error_body(503, "storage unavailable, retry later")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        log.exception("unhandled error")
        return error_body(500, "internal error")
