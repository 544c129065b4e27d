"""Which kind a failure is, what its dead letter says, and how long to wait out an outage.

A failure about the system (Redis or the database unwell) would fail every
message alike, so the message in hand is retried; anything else is about the
message, which is dead-lettered with a short reason (see the package
docstring). The reason is the error's type and first line, numbers masked,
never the SQL or its parameters.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import redis
from sqlalchemy import exc as sa

from shared.alerts.formats import FormatError
from shared.core.phone import mask_numbers_in

MAX_BACKOFF_SECONDS = 30.0
REASON_MAX = 500

# Failures of the database or of Redis as a whole, never of one message.
_SYSTEM_FAILURES = (
    sa.OperationalError,  # unreachable, timed out, locked, out of disk or connections
    sa.InterfaceError,
    sa.InternalError,  # the server's own state (an aborted transaction, ...)
    sa.ProgrammingError,  # the schema or grants do not match the code: every row fails
    sa.TimeoutError,  # no pooled connection became free
    sa.DisconnectionError,
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
)


def is_system_failure(exc: BaseException) -> bool:
    """Whether `exc` says the system is unwell (retry) rather than the message is bad."""
    if isinstance(exc, _SYSTEM_FAILURES):
        return True
    return isinstance(exc, sa.DBAPIError) and exc.connection_invalidated


def _first_line(value: object) -> str:
    try:
        text = str(value).strip()
    except Exception:
        return ""
    return text.splitlines()[0] if text else ""


def _clip(text: str, limit: int = REASON_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def failure_reason(exc: BaseException) -> str:
    """`Type: first line of its message`, short and with numbers masked.

    For a database error, the driver's message only: SQLAlchemy's own text
    goes on with the statement and its parameters, the message's data, and
    the driver's later lines (`DETAIL: Failing row contains ...`) quote it.
    """
    shown = exc.orig if isinstance(exc, sa.StatementError) and exc.orig is not None else exc
    message = _first_line(shown)
    name = type(exc).__name__
    return _clip(mask_numbers_in(f"{name}: {message}" if message else name))


def unusable_reason(exc: BaseException) -> str:
    """Why a message could not be turned into alerts, for its dead letter."""
    if isinstance(exc, UnicodeDecodeError):
        return "entry is not UTF-8"
    if isinstance(exc, FormatError):
        return _clip(mask_numbers_in(str(exc)))
    return f"could not be read: {failure_reason(exc)}"


@dataclass
class Backoff:
    """Doubling waits, capped, reset by a success: outages are retried without spinning."""

    delay: float = 0.0
    initial: float = 0.2

    def wait(self, stop: threading.Event) -> None:
        self.delay = min(MAX_BACKOFF_SECONDS, self.delay * 2 if self.delay else self.initial)
        stop.wait(self.delay)

    def reset(self) -> None:
        self.delay = 0.0
