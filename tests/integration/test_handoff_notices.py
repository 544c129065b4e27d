"""A hand-off notice leaves once per person per shift, however many beats ask for it.

The `schedules.handoff_notices` task runs in this process against real parts: a
Plivo simulator over HTTP, a migrated SQLite database, the test Redis and an
on-call file whose daily rotation hands over a few minutes from now.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from shared.core.db import session_scope
from shared.core.models import HandoffNoticeRecord
from shared.routing.oncall_config import parse_config
from shared.schedules.resolve import on_call
from shared.sending.limits import sender_for
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.worker_caches import clear_worker_caches

POOL = ("+14155550000", "+14155550001")
PHONES = {"ann": "+14155550123", "bob": "+14155550124"}


def oncall_text(handoff: datetime) -> str:
    """ann and bob a day each, handing over at `handoff` (UTC) today."""
    return f"""
contacts:
  ann: {{phone: "{PHONES["ann"]}"}}
  bob: {{phone: "{PHONES["bob"]}"}}
policies:
  p:
    steps:
      - {{targets: [ann], channels: [sms], wait: 0}}
default_policy: p
schedules:
  primary:
    time_zone: UTC
    handoff_notice: {{before: 30m}}
    layers:
      - name: daily
        rotation:
          members: [ann, bob]
          shift: 1d
          handoff: "{handoff:%H:%M}"
          start: {handoff.date() - timedelta(days=10)}
"""


@pytest.fixture
def simulator() -> Iterator[RunningSimulator]:
    running = start_in_thread(SimulatorConfig())
    yield running
    running.stop()


@pytest.fixture
def handoff(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    broker_env: str,
    redis_client: redis.Redis,
    simulator: RunningSimulator,
) -> Iterator[tuple[str, datetime, str]]:
    """(database URL, the coming hand-off in UTC, who comes on call then)."""
    from shared.core.db import upgrade

    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade(url)
    moment = (datetime.now(UTC) + timedelta(minutes=10)).replace(second=0, microsecond=0)
    oncall = tmp_path / "oncall.yaml"
    oncall.write_text(oncall_text(moment))
    schedule = parse_config(oncall.read_text()).schedule_named("primary")
    assert schedule is not None
    [incoming] = on_call(schedule, moment)
    env = {
        "DATABASE_URL": url,
        "REDIS_URL": broker_env,
        "DATA_DIR": str(tmp_path),
        "CONFIG_FILE": str(oncall),
        "PLIVO_AUTH_ID": simulator.config.auth_id,
        "PLIVO_AUTH_TOKEN": simulator.config.auth_token,
        "PLIVO_BASE_URL": simulator.url,
        "PLIVO_FROM": ",".join(POOL),
        "SMS_PER_SECOND": "1000",
        "SENDER_SMS_PER_SECOND": "1000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    clear_worker_caches()
    yield url, moment, incoming
    monkeypatch.undo()
    clear_worker_caches()


def _record(url: str) -> HandoffNoticeRecord:
    with session_scope(url) as session:
        [record] = session.scalars(select(HandoffNoticeRecord)).all()
        return record


def test_the_person_coming_on_call_gets_one_text_however_often_beat_asks(
    handoff: tuple[str, datetime, str], simulator: RunningSimulator
) -> None:
    from worker.tasks.handoff_notices import handoff_notices

    url, moment, incoming = handoff
    assert handoff_notices() == {"sent": 1}
    assert handoff_notices() == {}  # the next look, or a second beat after the first

    [message] = simulator.state.messages()
    assert "+" + message.dst == PHONES[incoming]
    assert "+" + message.src == sender_for(PHONES[incoming], POOL)
    end = moment + timedelta(days=1)
    assert message.text == (
        f"You are on call for primary from {moment:%a} {moment.day} {moment:%b %H:%M} UTC "
        f"to {end:%a} {end.day} {end:%b %H:%M}."
    )
    record = _record(url)
    assert (record.schedule, record.shift_start, record.contact) == ("primary", moment, incoming)
    assert record.message_uuid == message.message_uuid
    assert record.sent_at is not None and record.error is None


def test_two_beats_racing_for_a_notice_send_it_once(
    handoff: tuple[str, datetime, str], simulator: RunningSimulator
) -> None:
    """Both beats find the notice not yet claimed; the key inserted first lets one send."""
    from worker import context
    from worker.tasks import handoff_notices as task

    config = task.current_config(context.settings().config_file)
    assert config is not None
    first, second = task._to_send(config), task._to_send(config)
    assert first == second and len(first) == 1
    [(notice, number)] = first
    assert task._deliver(notice, number) == "sent"
    assert task._deliver(notice, number) == "duplicate"
    assert len(simulator.state.messages()) == 1
    assert _record(handoff[0]).message_uuid == simulator.state.messages()[0].message_uuid


def test_a_failed_send_is_recorded_and_not_tried_again(
    handoff: tuple[str, datetime, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from worker.tasks.handoff_notices import handoff_notices

    url, _, incoming = handoff
    monkeypatch.setenv("PLIVO_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    clear_worker_caches()
    assert handoff_notices() == {"failed": 1}
    assert handoff_notices() == {}
    record = _record(url)
    assert record.contact == incoming
    assert record.sent_at is None and record.message_uuid is None
    assert record.error is not None and record.error.startswith("PlivoConnectionError")


def closed_port() -> int:
    """A loopback port nothing listens on: the request is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
