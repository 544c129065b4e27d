"""Reads on SQLite do not queue behind writers (`read_scope`)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from shared.core.db import read_scope, session_scope, upgrade


def _read_alert_count(url: str, found: list[int]) -> None:
    with read_scope(url) as session:
        found.append(session.execute(text("SELECT count(*) FROM alerts")).scalar_one())


def test_a_read_goes_on_while_a_writer_holds_the_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    found: list[int] = []
    with session_scope(url) as writer:
        # The writer's transaction holds SQLite's write lock from its BEGIN IMMEDIATE.
        writer.execute(text("SELECT 1"))
        reader = threading.Thread(target=_read_alert_count, args=(url, found))
        reader.start()
        reader.join(timeout=5)
        finished_while_locked = not reader.is_alive()
    reader.join()
    assert finished_while_locked, "the read waited for the writer's lock"
    assert found == [0]


def test_what_a_read_only_session_writes_is_not_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    with session_scope(url) as session:
        session.execute(text("CREATE TABLE scratch (n INTEGER)"))
    with read_scope(url) as session:
        session.execute(text("INSERT INTO scratch VALUES (1)"))
    with read_scope(url) as session:
        assert session.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 0
