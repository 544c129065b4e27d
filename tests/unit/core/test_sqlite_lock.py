"""Waiting for SQLite's write lock in short, switchable sleeps (`begin_immediate`)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from shared.core.sqlite_lock import LONGEST_WAIT_S, begin_immediate, next_wait


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def test_waits_double_from_half_a_millisecond_to_four() -> None:
    waits, wait = [], 0.0
    for _ in range(6):
        wait = next_wait(wait)
        waits.append(wait)
    assert waits == [0.0005, 0.001, 0.002, 0.004, 0.004, 0.004]


def test_a_writer_gets_the_lock_soon_after_it_is_released(tmp_path: Path) -> None:
    holder, waiter = _connect(tmp_path / "db"), _connect(tmp_path / "db")
    holder.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    released.start()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        threading.Event().wait(seconds)

    begin_immediate(waiter, sleep=sleep)
    released.join()
    waiter.execute("COMMIT")
    assert sleeps, "the lock was held: the writer must have waited"
    assert max(sleeps) <= LONGEST_WAIT_S


def test_a_lock_held_past_the_deadline_is_reported_as_locked(tmp_path: Path) -> None:
    holder, waiter = _connect(tmp_path / "db"), _connect(tmp_path / "db")
    holder.execute("BEGIN IMMEDIATE")
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(waiter, timeout_s=1.0, sleep=sleep, clock=lambda: now[0])
    assert now[0] >= 1.0
    holder.execute("COMMIT")


def test_later_statements_keep_sqlite_own_busy_timeout(tmp_path: Path) -> None:
    connection = _connect(tmp_path / "db")
    begin_immediate(connection)
    assert connection.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
    connection.execute("COMMIT")
