"""The bridge's sorting of failures: retry the system, dead-letter the message."""

from __future__ import annotations

import threading

import redis
from sqlalchemy import exc as sa

from shared.alerts.formats import FormatError
from worker.bridge.failures import (
    MAX_BACKOFF_SECONDS,
    REASON_MAX,
    Backoff,
    failure_reason,
    is_system_failure,
    unusable_reason,
)


def _db_error(kind: type[sa.DBAPIError], message: str, invalidated: bool = False) -> sa.DBAPIError:
    return kind(
        "INSERT INTO alerts VALUES (?)",
        ("+14155550101",),
        Exception(message),
        connection_invalidated=invalidated,
    )


def test_outages_are_the_systems_and_bad_rows_the_messages() -> None:
    assert is_system_failure(_db_error(sa.OperationalError, "database is locked"))
    assert is_system_failure(_db_error(sa.ProgrammingError, "no such table: alerts"))
    assert is_system_failure(redis.ConnectionError("refused"))
    assert is_system_failure(TimeoutError())
    assert is_system_failure(_db_error(sa.DBAPIError, "gone", invalidated=True))
    assert not is_system_failure(_db_error(sa.IntegrityError, "UNIQUE constraint failed"))
    assert not is_system_failure(_db_error(sa.DataError, "value too long"))
    assert not is_system_failure(ValueError("a bug"))


def test_a_database_reason_is_the_drivers_first_line_without_sql_or_numbers() -> None:
    error = _db_error(sa.IntegrityError, "NOT NULL failed for +14155550101\nDETAIL: row (...)")
    reason = failure_reason(error)
    assert reason.startswith("IntegrityError: NOT NULL failed for ")
    assert "+14155550101" not in reason
    assert "INSERT" not in reason and "DETAIL" not in reason


def test_reasons_are_clipped_and_never_empty() -> None:
    assert failure_reason(KeyError()) == "KeyError"
    long = failure_reason(ValueError("x" * 2000))
    assert len(long) == REASON_MAX and long.endswith("\u2026")


def test_unusable_reasons_name_what_was_wrong() -> None:
    assert unusable_reason(_bad_utf8()) == "entry is not UTF-8"
    assert unusable_reason(FormatError("summary is missing")) == "summary is missing"
    assert (
        unusable_reason(RecursionError("too deep")) == "could not be read: RecursionError: too deep"
    )


def _bad_utf8() -> UnicodeDecodeError:
    try:
        b"\xff".decode()
    except UnicodeDecodeError as exc:
        return exc
    raise AssertionError("\\xff decoded")


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    stop = threading.Event()
    stop.set()  # waits return at once
    backoff = Backoff(initial=10.0)
    delays = []
    for _ in range(4):
        backoff.wait(stop)
        delays.append(backoff.delay)
    assert delays == [10.0, 20.0, MAX_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS]
    backoff.reset()
    backoff.wait(stop)
    assert backoff.delay == 10.0
