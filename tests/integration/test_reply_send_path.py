"""An answer to an inbound SMS leaves the way a page does: the person's sender from the
pool, the same rate-limit keys, the Powerpack, and the backup account while the
primary's circuit is open.

The `notify.send_reply` task runs in this process against real parts: a Plivo
simulator over HTTP, a migrated SQLite database and the test Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from shared.core.db import session_scope
from shared.core.events import record_event
from shared.core.models import Event
from shared.sending.limits import sender_for
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.worker_caches import clear_worker_caches

POOL = ("+14155550000", "+14155550001")
BACKUP_AUTH_ID = "MABACKUP000000000000"


@pytest.fixture
def simulators() -> Iterator[tuple[RunningSimulator, RunningSimulator]]:
    primary = start_in_thread(SimulatorConfig())
    backup = start_in_thread(SimulatorConfig(auth_id=BACKUP_AUTH_ID, auth_token="backup-token"))
    yield primary, backup
    primary.stop()
    backup.stop()


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    broker_env: str,
    redis_client: redis.Redis,
    simulators: tuple[RunningSimulator, RunningSimulator],
) -> Iterator[Callable[..., str]]:
    """`configure(**env)`: the worker's settings for this test; returns the database URL."""
    from shared.core.db import upgrade

    url = f"sqlite:///{tmp_path / 'reply.db'}"
    upgrade(url)
    primary, backup = simulators

    def configure(**env: str) -> str:
        base = {
            "DATABASE_URL": url,
            "REDIS_URL": broker_env,
            "DATA_DIR": str(tmp_path),
            "PLIVO_AUTH_ID": primary.config.auth_id,
            "PLIVO_AUTH_TOKEN": primary.config.auth_token,
            "PLIVO_BASE_URL": primary.url,
            "PLIVO_FROM": ",".join(POOL),
            "PLIVO_BACKUP_AUTH_ID": backup.config.auth_id,
            "PLIVO_BACKUP_AUTH_TOKEN": backup.config.auth_token,
            "PLIVO_BACKUP_BASE_URL": backup.url,
            "BREAKER_FAILURES": "1",
            # The account lets one reply after another go at once; a sender number
            # takes one per 10 s, so its booked pace is still there to be seen.
            "SMS_PER_SECOND": "1000",
            "SENDER_SMS_PER_SECOND": "0.1",
        }
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        clear_worker_caches()
        return url

    yield configure
    monkeypatch.undo()
    clear_worker_caches()


def _queue_reply(url: str, destination: str, text: str) -> int:
    with session_scope(url) as session:
        record_event(session, "sms.reply_queued", detail={"destination": destination, "text": text})
    with session_scope(url) as session:
        return session.scalar(select(func.max(Event.id)).where(Event.kind == "sms.reply_queued"))


def _send_reply(url: str, destination: str, text: str = "Reply 1A to acknowledge") -> str:
    from worker.tasks.send_reply import send_reply

    return send_reply(_queue_reply(url, destination, text))


# Two people the pool spreads over different sender numbers.
FIRST, SECOND = "+14155550123", "+14155550124"


def test_the_two_people_get_different_senders() -> None:
    assert sender_for(FIRST, POOL) != sender_for(SECOND, POOL)


def test_a_reply_comes_from_the_persons_sender_with_that_senders_rate_limit(
    worker_env, simulators, redis_client
) -> None:
    url = worker_env()
    primary, backup = simulators
    assert _send_reply(url, FIRST) == "sent"
    # Another number of the pool: not held back by the first one's pace.
    assert _send_reply(url, SECOND) == "sent"
    # The first person's number again: its pace holds this one back.
    assert _send_reply(url, FIRST, "a second answer") == "delayed"
    by_destination = {"+" + m.dst: m for m in primary.state.messages()}
    assert set(by_destination) == {FIRST, SECOND}
    for person in (FIRST, SECOND):
        message = by_destination[person]
        assert "+" + message.src == sender_for(person, POOL)
        assert message.powerpack_uuid is None
    assert not backup.state.messages()
    keys = set(redis_client.scan_iter("*sender:*"))
    assert all("," not in key for key in keys), keys
    assert any(f"sender:{sender_for(FIRST, POOL)}:" in key for key in keys), keys
    assert any(f"sender:{sender_for(SECOND, POOL)}:" in key for key in keys), keys


def test_a_reply_goes_through_the_powerpack_when_one_is_configured(
    worker_env, simulators, redis_client
) -> None:
    url = worker_env(PLIVO_POWERPACK_UUID="pp-1234")
    primary, _ = simulators
    assert _send_reply(url, FIRST) == "sent"
    [message] = primary.state.messages()
    assert message.powerpack_uuid == "pp-1234"
    assert any("sender:pp-1234:" in key for key in redis_client.scan_iter("*sender:*"))


def test_a_reply_goes_to_the_backup_while_the_primarys_circuit_is_open(
    worker_env, simulators
) -> None:
    url = worker_env()
    primary, backup = simulators
    from worker.sending.providers import breaker

    assert breaker().record_failure()
    assert _send_reply(url, FIRST) == "sent"
    assert not primary.state.messages()
    [message] = backup.state.messages()
    assert "+" + message.dst == FIRST
    assert "+" + message.src == sender_for(FIRST, POOL)
