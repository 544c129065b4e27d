"""Requests storing at once share commits, and each still gets exactly its own outcome:
its rows committed before it returns, or its error with nothing of it left behind.
Real SQLite (PostgreSQL too when configured), real threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from shared.alerts.ingest import ingest_all
from shared.alerts.schemas import AlertIn
from shared.core.db import get_engine, session_scope
from shared.core.models import Alert
from webhooks.group_commit import GroupCommit


def store(key: str, slow_s: float = 0.0):  # type: ignore[no-untyped-def]
    def work(session: Session) -> int:
        time.sleep(slow_s)  # holds the round open, so that others queue behind it
        [result] = ingest_all(session, [AlertIn(summary=key, dedup_key=key)], via="api")
        assert result.alert_id is not None
        return result.alert_id

    return work


def fail(session: Session) -> int:
    ingest_all(session, [AlertIn(summary="half done", dedup_key="never")], via="api")
    raise ValueError("this request is refused")


@contextmanager
def counted_commits(url: str) -> Iterator[list[int]]:
    commits = [0]

    def on_commit(connection) -> None:  # type: ignore[no-untyped-def]
        commits[0] += 1

    event.listen(get_engine(url), "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(get_engine(url), "commit", on_commit)


def test_concurrent_requests_share_commits_and_each_gets_its_own_row(database_url: str) -> None:
    committer = GroupCommit(database_url)
    results: dict[str, int] = {}
    errors: list[BaseException] = []

    def request(key: str, slow_s: float) -> None:
        try:
            results[key] = committer.run(store(key, slow_s))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=request, args=("first", 0.3))]
    threads[0].start()
    time.sleep(0.05)  # the first round is open: the rest queue for the next one
    threads += [threading.Thread(target=request, args=(f"k{i}", 0.0)) for i in range(20)]
    with counted_commits(database_url) as commits:
        for thread in threads[1:]:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert errors == []
    assert len(set(results.values())) == 21
    with session_scope(database_url) as session:
        stored = dict(session.execute(select(Alert.id, Alert.summary)).all())
    assert {stored[alert_id] for alert_id in results.values()} == set(results)
    assert commits[0] < 10  # shared: the twenty queued behind the first took few commits


def test_a_failing_request_fails_alone_and_leaves_nothing(database_url: str) -> None:
    committer = GroupCommit(database_url)
    outcomes: dict[str, object] = {}

    def request(name: str, work) -> None:  # type: ignore[no-untyped-def]
        try:
            outcomes[name] = committer.run(work)
        except ValueError as exc:
            outcomes[name] = exc

    lead = threading.Thread(target=request, args=("lead", store("lead", 0.3)))
    lead.start()
    time.sleep(0.05)
    others = [
        threading.Thread(target=request, args=("before", store("before"))),
        threading.Thread(target=request, args=("bad", fail)),
        threading.Thread(target=request, args=("after", store("after"))),
    ]
    for thread in others:
        thread.start()
        time.sleep(0.01)
    for thread in [lead, *others]:
        thread.join(timeout=30)

    assert isinstance(outcomes["bad"], ValueError)
    assert all(isinstance(outcomes[n], int) for n in ("lead", "before", "after"))
    with session_scope(database_url) as session:
        summaries = set(session.scalars(select(Alert.summary)))
        assert session.scalar(select(func.count()).select_from(Alert)) == 3
    assert summaries == {"lead", "before", "after"}


def test_alone_a_request_commits_at_once_and_its_error_reaches_it(database_url: str) -> None:
    committer = GroupCommit(database_url)
    assert committer.run(store("alone")) > 0
    with pytest.raises(ValueError, match="refused"):
        committer.run(fail)
    with session_scope(database_url) as session:
        assert list(session.scalars(select(Alert.summary))) == ["alone"]
