"""Voice notices for real: one call each, paced behind pages, spoken, and settled once.

First part, real processes: the receiver and a worker pool, a Plivo simulator
with the account's real call pace, and the notices tick sent as beat sends it.
A voice notice to twenty numbers (one opted out) goes out one call per number
within the calls per second; a critical page posted while it goes out is
called ahead of the rest of it; every answered call hears the notice's words twice and
hangs up; the signed hang-ups record answered or not on each delivery, and
a hang-up posted again changes nothing.

Second part, the send path run in this process on a real database, Redis and
simulator: a call claimed and abandoned by a worker that died (after its
request left, and before) is settled against Plivo's call list: the first is
never called again, the second is called once.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from celery import Celery
from sqlalchemy import select, update

from cli.stack import SIMULATOR_AUTH_TOKEN, Stack, StackConfig
from shared.core.db import session_scope, upgrade
from shared.core.embedded_redis import broker_url_for
from shared.core.models import NoticeDelivery, NoticeSend, OptOut
from shared.plivo.signature import sign_request_headers
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.polling import wait_for
from tests.worker_caches import clear_worker_caches
from worker import task_names
from worker.queues import NOTICE_PRIORITY, NOTIFY

CALLS_PER_SECOND = 5
NUMBERS = [f"+1628555{3000 + i}" for i in range(20)]
OPTED_OUT = NUMBERS[19]
NO_ANSWER, BUSY = NUMBERS[17], NUMBERS[18]
ONCALL = "+16285553099"
TEXT = "Database upgrade starts {start} for {duration}. Expect a short outage."


def oncall(start: datetime, numbers: list[str]) -> str:
    return f"""
contacts:
  ops: {{phone: "{ONCALL}"}}
policies:
  p:
    steps:
      - {{targets: [ops], channels: [voice], wait: 5m}}
default_policy: p
subscriber_lists:
  people: {{numbers: {numbers!r}}}
notices:
  upgrade:
    title: Database upgrade
    window: {{start: "{start:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{lists: [people]}}
    channels: [voice]
    templates: {{voice: "{TEXT}"}}
"""


class VoiceStack:
    def __init__(self, stack: Stack, sim: RunningSimulator) -> None:
        self.stack, self.sim = stack, sim

    def calls(self) -> list[tuple[float, str]]:
        """(time at the simulator, number) of every call request it accepted."""
        return [
            (r["time"], "+" + r["body"]["to"])
            for r in self.sim.state.requests()
            if r["method"] == "POST" and r["path"].endswith("/Call/") and r["status"] == 201
        ]

    def states(self) -> dict[str, tuple[str, str | None]]:
        with session_scope(self.stack.database_url) as session:
            rows = session.execute(
                select(NoticeDelivery.number, NoticeDelivery.state, NoticeDelivery.error_code)
            ).all()
        return {number: (state, error) for number, state, error in rows}


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceStack]:
    data_dir: Path = tmp_path_factory.mktemp("notice-voice")
    config = data_dir / "oncall.yaml"
    config.write_text(oncall(datetime.now(UTC) + timedelta(days=1), NUMBERS))
    stack = Stack(
        StackConfig(
            data_dir=data_dir,
            worker_concurrency=3,
            extra_env={
                "CONFIG_FILE": str(config),
                "CALLS_PER_SECOND": str(CALLS_PER_SECOND),
                "BUNDLE_WINDOW_S": "0",
            },
        )
    )
    upgrade(stack.database_url)
    with session_scope(stack.database_url) as session:
        session.add(OptOut(destination=OPTED_OUT))
    scenarios = {NO_ANSWER: {"voice": "no-answer"}, BUSY: {"voice": "busy"}}
    sim = start_in_thread(
        SimulatorConfig(
            calls_per_second=CALLS_PER_SECOND, receiver_url=stack.web_url, scenarios=scenarios
        )
    )
    stack.config.extra_env["PLIVO_BASE_URL"] = sim.url
    try:
        with stack:
            stack.wait_for_workers()
            warm_up = post_page(stack)  # the system has paged before: its first page is no
            wait_for(lambda: _called_since(sim, warm_up), timeout=15, what="warm-up page")
            # Due a moment ago (within the grace period): the next notices tick sends it.
            config.write_text(oncall(datetime.now(UTC) - timedelta(seconds=1), NUMBERS))
            yield VoiceStack(stack, sim)
    finally:
        sim.stop()


def _called_since(sim: RunningSimulator, since: float) -> bool:
    return any(r["time"] >= since and r["path"].endswith("/Call/") for r in sim.state.requests())


def tick(stack: Stack) -> None:
    """The notices tick, as beat sends it."""
    probe = Celery(broker=broker_url_for(stack.redis_url))
    try:
        probe.send_task(
            task_names.NOTICES_TICK, queue=NOTIFY, routing_key=NOTIFY, priority=NOTICE_PRIORITY
        )
    finally:
        probe.close()


def post_page(stack: Stack) -> float:
    body = {"summary": "db1 down during maintenance", "severity": "critical"}
    headers = {"Authorization": f"Bearer {stack.config.api_token}"}
    posted = time.time()
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=headers, timeout=5
    )
    assert response.status_code == 202, response.text
    return posted


def busiest_second(times: list[float]) -> int:
    times, best, start = sorted(times), 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_a_voice_notice_calls_each_once_paced_behind_a_page_and_records_answers(
    voice: VoiceStack,
) -> None:
    tick(voice.stack)
    wait_for(lambda: voice.calls(), timeout=15, interval=0.02, what="the first notice call")
    posted = post_page(voice.stack)
    paged_at = wait_for(
        lambda: next((at for at, to in voice.calls() if to == ONCALL and at >= posted), None),
        timeout=10,
        interval=0.02,
        what="the page's call at the simulator",
    )
    wanted = set(NUMBERS) - {OPTED_OUT}

    def settled() -> bool:
        states = voice.states()
        return all(states.get(n, ("",))[0] in ("delivered", "failed") for n in wanted)

    wait_for(settled, timeout=20, what="every call ended and recorded")
    called = Counter(to for _, to in voice.calls())
    notice_times = [at for at, to in voice.calls() if to in wanted]
    print(
        f"\npage called {paged_at - posted:.3f} s after it was posted; notice: {len(wanted)} "
        f"calls in {max(notice_times) - min(notice_times):.2f} s; busiest second "
        f"{busiest_second([at for at, _ in voice.calls()])} (limit {CALLS_PER_SECOND})"
    )
    # The page waits for one notice call's slot at most, never for the notice: it is
    # called within about a second (a worker process's first page included), while
    # a second or more of notice calls is still to come.
    assert paged_at - posted < 1.5
    assert max(notice_times) > paged_at + 1.0
    assert {n: called[n] for n in wanted} == dict.fromkeys(wanted, 1)
    assert called[OPTED_OUT] == 0
    assert busiest_second([at for at, _ in voice.calls()]) <= CALLS_PER_SECOND
    states = voice.states()
    assert states[NO_ANSWER] == ("failed", "no-answer") and states[BUSY] == ("failed", "busy")
    answered = wanted - {NO_ANSWER, BUSY}
    assert {states[n] for n in answered} == {("delivered", None)}
    assert states[OPTED_OUT] == ("skipped", None)
    heard = next(c for c in voice.sim.state.calls() if "+" + c.to_number == NUMBERS[0])
    assert len(heard.spoken) == 2 and heard.spoken[1] == f"Again: {heard.spoken[0]}"
    assert heard.spoken[0].startswith("Database upgrade starts ") and "1 hour" in heard.spoken[0]

    def send_state() -> str:
        with session_scope(voice.stack.database_url) as session:
            return session.scalars(select(NoticeSend.state)).one()

    # The send closes when its chain next looks and finds nothing left to hand over,
    # which may be after the last hang-up was recorded (a requeued chain, a busy worker).
    wait_for(lambda: send_state() == "done", timeout=15, what="the send closed as done")


def test_a_hangup_posted_again_changes_nothing(voice: VoiceStack) -> None:
    with session_scope(voice.stack.database_url) as session:
        row = session.scalars(
            select(NoticeDelivery).where(NoticeDelivery.number == NUMBERS[0])
        ).one()
        batch_id, call_uuid = row.batch_id, row.provider_uuid
    hangups = [
        c
        for c in voice.sim.state.callbacks()
        if c["kind"] == "voice:hangup" and c["params"].get("CallUUID") == call_uuid
    ]
    assert hangups and hangups[0]["status"] == 200  # signed, taken by the receiver
    # The same hang-up again, signed anew (a fresh nonce), and one saying nobody answered.
    url = f"{voice.stack.web_url}/plivo/voice/notice/hangup?nb={batch_id}"
    for status in ("completed", "no-answer"):
        params = {**hangups[0]["params"], "CallStatus": status, "AnswerTime": ""}
        headers = sign_request_headers(SIMULATOR_AUTH_TOKEN, url, params)
        answer = requests.post(url, data=params, headers=headers, timeout=10)
        assert (answer.status_code, answer.text) == (200, "duplicate\n")
    assert voice.states()[NUMBERS[0]] == ("delivered", None)
    # A hang-up of a call this batch never placed is not taken for it.
    params = {**hangups[0]["params"], "CallUUID": str(uuid.uuid4()), "RequestUUID": "x"}
    headers = sign_request_headers(SIMULATOR_AUTH_TOKEN, url, params)
    answer = requests.post(url, data=params, headers=headers, timeout=10)
    assert answer.text == "unknown_call\n"
    metrics = requests.get(f"{voice.stack.web_url}/metrics", timeout=10).text
    assert 'alert_dispatch_notice_calls_total{result="placed"} 19.0' in metrics
    assert 'alert_dispatch_notice_calls_total{result="answered"} 17.0' in metrics
    assert 'alert_dispatch_notice_calls_total{result="not_answered"} 2.0' in metrics


# --------------------------------------------------------------------------- in this process


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broker_env: str
) -> Iterator[tuple[str, RunningSimulator, Callable[[list[str]], str]]]:
    """The worker's settings on a migrated SQLite file, the test Redis and a simulator;
    yields (database URL, simulator, start a voice notice send to these numbers)."""
    sim = start_in_thread(SimulatorConfig(calls_per_second=100, ring_delay_s=0.05))
    url = f"sqlite:///{tmp_path / 'voice.db'}"
    upgrade(url)
    config = tmp_path / "oncall.yaml"
    for name, value in {
        "DATABASE_URL": url,
        "REDIS_URL": broker_env,
        "DATA_DIR": str(tmp_path),
        "PLIVO_BASE_URL": sim.url,
        # Nobody answers there: these calls' callbacks are not what this part is about.
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",
        "CONFIG_FILE": str(config),
        "CALLS_PER_SECOND": "50",
    }.items():
        monkeypatch.setenv(name, value)
    clear_worker_caches()

    def start_send(numbers: list[str]) -> str:
        config.write_text(oncall(datetime.now(UTC) - timedelta(seconds=1), numbers))
        from worker.tasks.notices_tick import notices_tick

        assert notices_tick()["started"] == 1
        with session_scope(url) as session:
            return session.scalars(select(NoticeSend.id)).one()

    yield url, sim, start_send
    sim.stop()
    monkeypatch.undo()
    clear_worker_caches()


def run_chain(send_id: str, until: tuple[str, ...] = ("finish", "closed")) -> list[str]:
    """Drive the send's voice chain in this process, as a worker would."""
    from worker.tasks.notice_call_batch import notice_call_batch

    steps, deadline = [], time.monotonic() + 20
    while time.monotonic() < deadline:
        step = notice_call_batch(send_id)
        steps.append(step)
        if step in until:
            return steps
        time.sleep(0.005)
    raise AssertionError(f"the chain did not finish: {Counter(steps)}")


def abandon_call(url: str, send_id: str) -> str:
    """Claim one call as a worker would, commit, and die: nothing recorded after."""
    from shared.notices.single import claim_one

    with session_scope(url) as session:
        claimed = claim_one(
            session, send_id, channel="voice", provider="primary", now=datetime.now(UTC)
        )
    assert claimed.number is not None
    return claimed.number


def test_an_abandoned_call_is_settled_at_plivo_never_called_twice(worker_env) -> None:
    url, sim, start_send = worker_env
    from worker import context

    numbers = [f"+1628555{4000 + i}" for i in range(4)]
    send_id = start_send(numbers)
    left = abandon_call(url, send_id)  # died after its request left
    context.plivo_client().place_call(
        src="+14155550000", dst=left, answer_url="http://127.0.0.1:9/answer"
    )
    never_left = abandon_call(url, send_id)  # died before its request
    # The claims are fresh (their calls could still be ringing): the others go.
    assert run_chain(send_id, until=("wait",))[-1] == "wait"
    assert Counter("+" + c.to_number for c in sim.state.calls()) == Counter(
        set(numbers) - {never_left}
    )
    with session_scope(url) as session:  # the crash was a while ago
        session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.state == "claimed")
            .values(claimed_at=datetime.now(UTC) - timedelta(hours=1))
        )
    run_chain(send_id)
    assert Counter("+" + c.to_number for c in sim.state.calls()) == Counter(numbers)
    with session_scope(url) as session:
        rows = {
            r.number: r
            for r in session.scalars(
                select(NoticeDelivery).where(NoticeDelivery.number.in_(numbers))
            )
        }
        assert session.get(NoticeSend, send_id).state == "done"  # type: ignore[union-attr]
    found_call = next(c for c in sim.state.calls() if "+" + c.to_number == left)
    assert (rows[left].state, rows[left].provider_uuid) == ("handed_off", found_call.call_uuid)
    assert rows[never_left].state == "handed_off"
