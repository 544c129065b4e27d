"""A notices tick racing an update or a cancel, on two real connections to one database.

The tick reads the notices in force, then starts their due sends. An update
(or a cancel) committed in between must not let the tick start a send with
words nobody will correct (or a send of a cancelled notice). The tick is
paused right after it read the notices, the other transaction runs to its
end (PostgreSQL) or until it waits for the tick's write lock (SQLite, whose
writers queue at BEGIN IMMEDIATE), then the tick goes on. Whatever the
order, every delivery still to be sent carries the words in force, and a
cancelled notice has none left.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from shared.core import sqlite_lock
from shared.core.db import session_scope
from shared.core.models import NoticeDelivery, NoticeRecord, NoticeSend
from shared.core.settings import load_settings
from shared.notices import managed
from shared.notices.definitions import check_definition
from shared.notices.delivery_state import DeliveryState
from shared.notices.updates import NoticeChange
from shared.routing.oncall_config import parse_config
from tests.polling import wait_for
from worker.tasks import notices_tick

NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # the -24h reminder is due now
NUMBERS = [f"+1415555{2000 + i}" for i in range(10)]
CONFIG = parse_config(
    f"""
contacts:
  alice: {{phone: "+14155550101"}}
policies:
  p:
    steps:
      - {{targets: [alice], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  customers: {{numbers: {NUMBERS!r}}}
"""
)
BODY = {
    "name": "up",
    "title": "DB upgrade",
    "window": {"start": "2026-12-06T02:00", "duration": "2h", "time_zone": "Europe/Paris"},
    "reminders": ["-24h", "start"],
    "audience": {"lists": ["customers"]},
    "templates": {"sms": "{title} until {end}"},
}
OLD_WORDS = "DB upgrade until Sun 6 Dec 04:00 CET"
NEW_WORDS = "DB upgrade until Sun 6 Dec 04:30 CET"


def extend(url: str) -> None:
    with session_scope(url) as session:
        change = NoticeChange.model_validate({"extend": "30m"})
        managed.update_notice(session, "up", change, CONFIG, NOW, "test")


def cancel(url: str) -> None:
    """As the API does: the notice's row locked, then every open send stopped."""
    with session_scope(url) as session:
        record = session.get(NoticeRecord, "up", with_for_update=True)
        managed.cancel(session, record, "up", NOW, "test")


def tick(url: str, settings: Any, at: datetime) -> None:
    with session_scope(url) as session:
        notices_tick.tick_notices(session, CONFIG, settings, at)


def words_still_to_send(url: str) -> dict[str, list[str]]:
    """The SMS words each pending delivery will be sent with: words -> numbers."""
    with session_scope(url) as session:
        rows = session.execute(
            select(NoticeSend.texts, NoticeDelivery.number)
            .join(NoticeSend, NoticeSend.id == NoticeDelivery.send_id)
            .where(NoticeDelivery.state == DeliveryState.PENDING.value)
        ).all()
    found: dict[str, list[str]] = {}
    for texts, number in rows:
        found.setdefault(texts["sms"], []).append(number)
    return {words: sorted(numbers) for words, numbers in found.items()}


class Blocked:
    """Whether a thread waits for a lock the paused tick holds, on either database."""

    def __init__(self, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url = url
        self.waiting: set[int] = set()
        real = sqlite_lock.next_wait

        def noted(previous_s: float) -> float:  # SQLite: BEGIN IMMEDIATE found the lock taken
            self.waiting.add(threading.get_ident())
            return real(previous_s)

        monkeypatch.setattr(sqlite_lock, "next_wait", noted)

    def __call__(self, thread: threading.Thread) -> bool:
        if thread.ident in self.waiting:
            return True
        if not self.url.startswith("postgresql"):
            return False
        with session_scope(self.url) as session:
            return bool(session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")))


@pytest.fixture
def paused_tick(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Callable[..., None]]:
    """`race(action, pause_after)`: a tick paused after one of its steps (reading the
    notices, or locking them again), `action` run meanwhile."""
    settings = load_settings(DATABASE_URL=database_url, DATA_DIR=str(tmp_path))
    notice = check_definition(BODY, CONFIG, NOW - timedelta(hours=1))
    with session_scope(database_url) as session:
        managed.create(session, notice, CONFIG, NOW - timedelta(hours=1), "test")
    paused, go_on = threading.Event(), threading.Event()

    def pause_after(step: str) -> None:
        real = getattr(notices_tick, step)

        def step_then_pause(*args: Any, **kwargs: Any) -> Any:
            result = real(*args, **kwargs)
            if not paused.is_set():
                paused.set()
                go_on.wait(timeout=60)
            return result

        monkeypatch.setattr(notices_tick, step, step_then_pause)

    blocked = Blocked(database_url, monkeypatch)
    errors: list[BaseException] = []

    def run(target: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # reported by the test below
                errors.append(exc)

        thread = threading.Thread(target=guarded, daemon=True)
        thread.start()
        return thread

    def race(action: Callable[[str], None], step: str = "plan_tick") -> None:
        pause_after(step)
        ticker = run(lambda: tick(database_url, settings, NOW + timedelta(seconds=1)))
        assert paused.wait(timeout=30), f"the tick never came past {step}"
        other = run(lambda: action(database_url))
        wait_for(
            lambda: not other.is_alive() or blocked(other),
            what="the other transaction committed, or waiting for the tick's lock",
        )
        go_on.set()
        ticker.join(timeout=60)
        other.join(timeout=60)
        assert not ticker.is_alive() and not other.is_alive()
        assert errors == []
        tick(database_url, settings, NOW + timedelta(seconds=3))  # the next tick, unhindered

    yield race
    go_on.set()  # a failed test never leaves the tick waiting


# plan_tick: the update commits after the tick read the notices, before it starts sends.
# still_current: the tick holds the notice's row; the update waits, then corrects.
@pytest.mark.parametrize("step", ["plan_tick", "still_current"])
def test_a_tick_racing_an_update_sends_only_the_new_words(
    database_url: str, paused_tick: Callable[..., None], step: str
) -> None:
    paused_tick(extend, step)
    still = words_still_to_send(database_url)
    assert OLD_WORDS not in still  # nobody is left to get the old words uncorrected
    assert still == {NEW_WORDS: sorted(NUMBERS)}


def test_a_tick_racing_a_cancel_starts_nothing(
    database_url: str, paused_tick: Callable[..., None]
) -> None:
    paused_tick(cancel)
    assert words_still_to_send(database_url) == {}
