"""Taking SQLite's write lock without SQLite's own busy wait.

SQLite's busy handler sleeps in growing steps (1, 2, 5, 10 ... up to 100 ms)
while another connection holds the write lock, so under contention a writer
sleeps on long after the lock came free; and the sleep happens inside the C
library, where gevent cannot switch: a receiver worker waiting for the lock
stops answering every other request meanwhile. Here the wait is Python's
`time.sleep` in short steps, which gevent turns into a switch to other
requests, and which notices a released lock within a few milliseconds.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

FIRST_WAIT_S = 0.0005
LONGEST_WAIT_S = 0.004
LOCK_TIMEOUT_S = 30.0
# Restored after BEGIN: the rare busy wait of a later statement (a WAL recovery) stays SQLite's.
STATEMENT_BUSY_TIMEOUT_MS = 30000


def next_wait(previous_s: float) -> float:
    """The pause before the next try: doubling from FIRST_WAIT_S, never past LONGEST_WAIT_S."""
    if previous_s <= 0:
        return FIRST_WAIT_S
    return min(LONGEST_WAIT_S, previous_s * 2)


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def begin_immediate(
    connection: sqlite3.Connection,
    timeout_s: float = LOCK_TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """BEGIN IMMEDIATE, waiting up to `timeout_s` for the write lock in short sleeps.

    Raises sqlite3.OperationalError ("database is locked") when the lock is
    still held at the deadline, as SQLite's own wait would.
    """
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout=0")
        deadline = clock() + timeout_s
        wait = 0.0
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or clock() >= deadline:
                    raise
            wait = next_wait(wait)
            sleep(wait)
    finally:
        cursor.execute(f"PRAGMA busy_timeout={STATEMENT_BUSY_TIMEOUT_MS}")
        cursor.close()
