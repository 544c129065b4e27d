"""The one way an API handler refuses a request: status plus Plivo's error text."""

from __future__ import annotations


class ApiError(Exception):
    """Answered as `{"api_id", "error": message}` with `status`; `extra` joins the body."""

    def __init__(self, status: int, message: str, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra
