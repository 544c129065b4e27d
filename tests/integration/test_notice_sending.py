"""Maintenance notices going out for real: once, paced behind pages, settled after a crash.

First part, real processes: the receiver, a worker pool and beat (its own
Redis), and a Plivo simulator with the account's real pace. A notice to
3,000 numbers falls due while two extra notice ticks race beat's own; a
critical page posted while it goes out reaches the simulator at once, no
one-second window holds more SMS than the account's limit (every bulk
destination counted), every number gets the notice once, opted-out numbers
none. A send due 5 minutes ago goes late; one due 30 minutes ago is missed.

Second part, the send path run in this process on a real database, Redis and
simulator: a batch claimed and abandoned by a worker that died (after its
request left, and before) is settled against Plivo's list and never resent,
with two batch chains racing; a cancelled notice sends nothing more.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from celery import Celery
from sqlalchemy import func, select, update

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope, upgrade
from shared.core.embedded_redis import broker_url_for
from shared.core.models import NoticeDelivery, NoticeRecord, NoticeSend, OptOut
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.polling import wait_for
from tests.worker_caches import clear_worker_caches
from worker import task_names
from worker.queues import NOTICE_PRIORITY, NOTIFY

RATE = 400  # SMS per second, the account's and the sender's
BIG = 2000
BIG_NUMBERS = [f"+1415555{i:04d}" for i in range(BIG)]
OPTED_OUT = BIG_NUMBERS[100:110]
LATE_NUMBERS = ["+16285550001", "+16285550002"]
MISSED_NUMBERS = ["+16285550011", "+16285550012"]
PAGED = "+16285550099"
LEAD_S = 2.0  # from the stack being up to the big notice's due moment


def oncall(due: datetime, now: datetime) -> str:
    late, missed = now - timedelta(minutes=5), now - timedelta(minutes=30)
    return f"""
contacts:
  ops: {{phone: "+16285550090"}}
policies:
  p:
    steps:
      - {{targets: [ops], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  everyone: {{csv: everyone.csv}}
  late: {{numbers: {LATE_NUMBERS!r}}}
  missed: {{numbers: {MISSED_NUMBERS!r}}}
notices:
  big:
    title: Database upgrade
    window: {{start: "{due:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{lists: [everyone]}}
    templates: {{sms: "{{title}} starts {{start}} for {{duration}}."}}
  late:
    title: Late
    window: {{start: "{late:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{lists: [late]}}
    templates: {{sms: "{{title}} now"}}
  missed:
    title: Missed
    window: {{start: "{missed:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{lists: [missed]}}
    templates: {{sms: "{{title}} now"}}
"""


class NoticeStack:
    def __init__(self, stack: Stack, sim: RunningSimulator, due: datetime) -> None:
        self.stack, self.sim, self.due = stack, sim, due

    def sent(self) -> list[tuple[float, list[str]]]:
        """(time at the simulator, destinations) of every accepted send request."""
        return [
            (r["time"], r["body"]["dst"].split("<"))
            for r in self.sim.state.requests()
            if r["method"] == "POST" and r["path"].endswith("/Message/") and r["status"] == 202
        ]

    def numbers_sent(self) -> Counter[str]:
        return Counter("+" + n for _, dst in self.sent() for n in dst)


@pytest.fixture(scope="module")
def notices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NoticeStack]:
    data_dir: Path = tmp_path_factory.mktemp("notices")
    now = datetime.now(UTC)
    config = data_dir / "oncall.yaml"
    (data_dir / "everyone.csv").write_text("phone\n" + "\n".join(BIG_NUMBERS) + "\n")
    config.write_text(oncall(now + timedelta(days=1), now))
    stack = Stack(
        StackConfig(
            data_dir=data_dir,
            worker_concurrency=3,
            with_beat=True,
            extra_env={
                "CONFIG_FILE": str(config),
                "SMS_PER_SECOND": str(RATE),
                "SENDER_SMS_PER_SECOND": str(RATE),
                "BUNDLE_WINDOW_S": "0",
            },
        )
    )
    _known_for_hours(stack.database_url, "missed", now)
    # The big notice's numbers send no delivery reports: 6,000 callbacks in seconds
    # would measure this machine's receiver, not the send path (the small notices'
    # reports come back, and are checked).
    quiet = {number: {"sms": "no-callback"} for number in BIG_NUMBERS}
    sim = start_in_thread(
        SimulatorConfig(sms_per_second=RATE, receiver_url=stack.web_url, scenarios=quiet)
    )
    stack.config.extra_env["PLIVO_BASE_URL"] = sim.url
    try:
        with stack:
            stack.wait_for_workers()
            # Due in a moment, with everything running: the workers read the file anew.
            due = (datetime.now(UTC) + timedelta(seconds=LEAD_S)).replace(microsecond=0)
            config.write_text(oncall(due, now))
            yield NoticeStack(stack, sim, due)
    finally:
        sim.stop()


def _known_for_hours(url: str, name: str, now: datetime) -> None:
    """Beat has known this notice for hours: its send 30 minutes ago was missed, not new."""
    upgrade(url)
    with session_scope(url) as session:
        session.add(NoticeRecord(name=name, source="file", created_at=now - timedelta(hours=2)))
        session.add_all(OptOut(destination=number) for number in OPTED_OUT)


def race_two_ticks(stack: Stack, due: datetime) -> None:
    """Two more notice ticks at the due moment, besides beat's own."""
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds() + 0.02))
    probe = Celery(broker=broker_url_for(stack.redis_url))
    try:
        for _ in range(2):
            probe.send_task(
                task_names.NOTICES_TICK, queue=NOTIFY, routing_key=NOTIFY, priority=NOTICE_PRIORITY
            )
    finally:
        probe.close()


def post_page(stack: Stack) -> float:
    body = {"summary": "db1 down during maintenance", "severity": "critical", "recipients": [PAGED]}
    headers = {"Authorization": f"Bearer {stack.config.api_token}"}
    posted = time.time()
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=headers, timeout=5
    )
    assert response.status_code == 202, response.text
    return posted


def busiest_second(sent: list[tuple[float, list[str]]]) -> int:
    """The most destinations in any one-second window of request arrivals."""
    times = sorted((at, len(dst)) for at, dst in sent)
    best = total = start = 0
    for at, count in times:
        total += count
        while at - times[start][0] >= 1.0:
            total -= times[start][1]
            start += 1
        best = max(best, total)
    return best


def test_a_notice_goes_out_once_paced_and_a_page_overtakes_it(notices: NoticeStack) -> None:
    race_two_ticks(notices.stack, notices.due)
    wait_for(lambda: len(notices.numbers_sent()) >= BIG // 5, timeout=20, what="notice going out")
    posted = post_page(notices.stack)
    paged_at = wait_for(
        lambda: next((at for at, dst in notices.sent() if PAGED.lstrip("+") in dst), None),
        timeout=10,
        interval=0.02,
        what="the page at the simulator",
    )
    wanted = set(BIG_NUMBERS) - set(OPTED_OUT)
    wait_for(lambda: wanted <= set(notices.numbers_sent()), timeout=25, what="every number")
    counts = notices.numbers_sent()
    sent = notices.sent()
    big = {n.lstrip("+") for n in BIG_NUMBERS}
    notice_requests = [(at, dst) for at, dst in sent if set(dst) <= big]
    first, last = notice_requests[0][0], notice_requests[-1][0]
    rate = len(wanted) / (last - first)
    print(
        f"\npage reached the simulator {paged_at - posted:.3f} s after it was posted; "
        f"notice: {len(wanted)} SMS in {len(notice_requests)} requests, {rate:.0f} SMS/s "
        f"({rate / RATE:.0%} of {RATE}/s); busiest second {busiest_second(sent)}"
    )
    # The page overtakes the notice: it reaches Plivo while a good part of the notice is
    # still to go, instead of queueing behind it (which would take the notice's whole pace).
    after_page = sum(len(dst) for at, dst in notice_requests if at > paged_at)
    assert after_page >= len(wanted) // 10, (after_page, len(wanted))
    assert paged_at - posted < 3.0
    assert [n for n, c in counts.items() if c > 1] == []
    assert set(counts) - set(LATE_NUMBERS) == wanted | {PAGED}  # opted-out ones: none
    assert busiest_second(sent) <= RATE
    assert max(len(dst) for _, dst in sent) < RATE / 10  # never thousands at once
    with session_scope(notices.stack.database_url) as session:
        sends = session.scalars(select(NoticeSend).where(NoticeSend.notice == "big")).all()
        skipped = session.scalar(
            select(func.count()).where(NoticeDelivery.skip_reason == "opted_out")
        )
    assert len(sends) == 1 and skipped == len(OPTED_OUT)


def test_late_within_grace_is_sent_and_past_grace_is_missed(notices: NoticeStack) -> None:
    def states() -> dict[str, str]:
        with session_scope(notices.stack.database_url) as session:
            rows = session.execute(
                select(NoticeSend.notice, NoticeSend.state).where(
                    NoticeSend.notice.in_(["late", "missed"])
                )
            ).all()
        return dict(rows)

    assert wait_for(lambda: (s := states()).get("late") == "done" and s, timeout=20) == {
        "late": "done",
        "missed": "missed",
    }
    counts = notices.numbers_sent()
    assert [counts[n] for n in LATE_NUMBERS] == [1, 1]
    assert [counts[n] for n in MISSED_NUMBERS] == [0, 0]

    def late_states() -> set[str]:
        with session_scope(notices.stack.database_url) as session:
            return set(
                session.scalars(
                    select(NoticeDelivery.state).where(NoticeDelivery.number.in_(LATE_NUMBERS))
                )
            )

    # Plivo's signed delivery reports, through the receiver, settle each delivery.
    wait_for(lambda: late_states() == {"delivered"}, timeout=15, what="delivery reports applied")
    log = (notices.stack.logs_dir / "worker1.log").read_text()
    missed_lines = [line for line in log.splitlines() if "missed/" in line and "ERROR" in line]
    assert len(missed_lines) == 1, missed_lines
    assert all(n.lstrip("+") not in log for n in MISSED_NUMBERS)
    metrics = requests.get(f"{notices.stack.web_url}/metrics", timeout=10).text
    assert 'alert_dispatch_notice_sends_missed_total{notice="missed"} 1.0' in metrics


# --------------------------------------------------------------------------- in this process


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broker_env: str
) -> Iterator[tuple[str, RunningSimulator, Callable[[int], str]]]:
    """The worker's settings pointing at a migrated SQLite file, the test Redis and a
    simulator; yields (database URL, simulator, start a 40-number notice send)."""
    sim = start_in_thread(SimulatorConfig(sms_per_second=1000))
    url = f"sqlite:///{tmp_path / 'notices.db'}"
    upgrade(url)
    numbers = [f"+1628555{1000 + i}" for i in range(40)]
    config = tmp_path / "oncall.yaml"
    for name, value in {
        "DATABASE_URL": url,
        "REDIS_URL": broker_env,
        "DATA_DIR": str(tmp_path),
        "PLIVO_BASE_URL": sim.url,
        "CONFIG_FILE": str(config),
        # One SMS a batch, a batch every 40 ms: a run sends about a dozen.
        "SMS_PER_SECOND": "50",
        "SENDER_SMS_PER_SECOND": "50",
    }.items():
        monkeypatch.setenv(name, value)
    clear_worker_caches()

    def start_send(count: int) -> str:
        due = datetime.now(UTC) - timedelta(seconds=1)
        config.write_text(_small_oncall(numbers[:count], due))
        from worker.tasks.notices_tick import notices_tick

        assert notices_tick()["started"] == 1
        with session_scope(url) as session:
            return session.scalars(select(NoticeSend.id)).one()

    yield url, sim, start_send
    sim.stop()
    monkeypatch.undo()
    clear_worker_caches()


def _small_oncall(numbers: list[str], due: datetime) -> str:
    return f"""
contacts:
  ops: {{phone: "+16285550090"}}
policies:
  p:
    steps:
      - {{targets: [ops], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  few: {{numbers: {numbers!r}}}
notices:
  small:
    title: Small
    window: {{start: "{due:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{lists: [few]}}
    templates: {{sms: "{{title}} now"}}
"""


def run_chain(send_id: str, until: tuple[str, ...] = ("finish", "closed")) -> list[str]:
    """Drive the send's batch chain in this process, as a worker would, until a step in
    `until` (by default: until it finishes)."""
    from worker.tasks.notice_send_batch import notice_send_batch

    steps, turn, deadline = [], 0, time.monotonic() + 20
    while time.monotonic() < deadline:
        step = notice_send_batch(send_id, turn)
        steps.append(step)
        if step in until:
            return steps
        turn += step == "sent"
        time.sleep(0.002)
    raise AssertionError(f"the chain did not finish: {Counter(steps)}")


def abandon_batch(url: str, send_id: str, size: int) -> list[str]:
    """Claim a batch as a worker would, commit, and die: nothing recorded after."""
    from shared.notices.deliveries import claim_batch

    with session_scope(url) as session:
        batch = claim_batch(
            session,
            send_id,
            channel="sms",
            sender=None,
            any_sender=True,
            size=size,
            provider="primary",
            now=datetime.now(UTC),
        )
    return batch.numbers


def test_a_batch_abandoned_by_a_dead_worker_is_settled_at_plivo_never_resent(worker_env) -> None:
    url, sim, start_send = worker_env
    from worker import context
    from worker.tasks.notice_reconcile import notice_reconcile

    send_id = start_send(40)
    left_plivo = abandon_batch(url, send_id, 5)  # died after its request left
    context.plivo_client().send_bulk_sms(
        src="+14155550000", destinations=left_plivo, text="Small now", callback_url=None
    )
    never_left = abandon_batch(url, send_id, 5)  # died before its request
    # The claims are fresh (their requests could still be under way): the rest goes.
    run_chain(send_id, until=("wait",))
    assert len(sim.state.messages()) == 35
    with session_scope(url) as session:  # the crash was a while ago
        session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.state == "claimed")
            .values(claimed_at=datetime.now(UTC) - timedelta(hours=1))
        )
    from worker.tasks.notice_send_batch import notice_send_batch

    assert notice_send_batch(send_id) == "settle"  # nothing is sent before Plivo is asked
    assert notice_reconcile(send_id) == {"found": 5, "resent": 5, "unsettled": 0}
    racing = [threading.Thread(target=run_chain, args=(send_id,)) for _ in range(2)]
    for chain in racing:
        chain.start()
    for chain in racing:
        chain.join(timeout=30)
    counts = Counter("+" + m.dst for m in sim.state.messages())
    assert sorted(counts.values()) == [1] * 40
    with session_scope(url) as session:
        states = dict(
            session.execute(
                select(NoticeDelivery.number, NoticeDelivery.state).where(
                    NoticeDelivery.number.in_(left_plivo + never_left)
                )
            ).all()
        )
        send = session.get(NoticeSend, send_id)
        assert send is not None and send.state == "done"
    assert set(states.values()) == {"handed_off"}


def test_a_cancelled_notice_sends_nothing_more(worker_env) -> None:
    url, sim, start_send = worker_env
    from shared.notices.store import cancel_notice
    from worker.tasks.notice_send_batch import notice_send_batch

    send_id = start_send(40)
    while len(sim.state.messages()) < 5:
        notice_send_batch(send_id)
    with session_scope(url) as session:
        cancelled = cancel_notice(session, "small", datetime.now(UTC))
    before = len(sim.state.messages())
    assert cancelled.sends == 1 and 0 < cancelled.skipped == 40 - before
    assert run_chain(send_id)[-1] == "closed"
    assert len(sim.state.messages()) == before
    from worker.tasks.notices_tick import notices_tick

    assert notices_tick()["started"] == 0  # a cancelled notice starts no new send


def test_a_bulk_answer_maps_each_uuid_to_its_number_and_counts_the_invalid_ones() -> None:
    from shared.plivo.client import PlivoClient

    sim = start_in_thread(SimulatorConfig())
    auth = (sim.config.auth_id, sim.config.auth_token)
    client = PlivoClient(auth_id=auth[0], auth_token=auth[1], base_url=sim.url)
    try:
        numbers = ["+16285550101", "+1234", "+16285550102"]
        answer = client.send_bulk_sms(src="+14155550000", destinations=numbers, text="hi")
        to_of = {m.message_uuid: "+" + m.dst for m in sim.state.messages()}
        assert {n: to_of[u] for n, u in answer.accepted.items()} == {
            "+16285550101": "+16285550101",
            "+16285550102": "+16285550102",
        }
        assert answer.invalid == ["+1234"]
        # At most 1,000 numbers a request, the invalid ones counted too.
        dst = "<".join([f"1628555{i:04d}" for i in range(1000)] + ["1234"])
        body = {"src": "14155550000", "dst": dst, "text": "x"}
        refused = requests.post(f"{sim.api_root}/Message/", json=body, auth=auth, timeout=10)
        assert refused.status_code == 400 and "at most 1000" in refused.json()["error"]
    finally:
        client.close()
        sim.stop()
