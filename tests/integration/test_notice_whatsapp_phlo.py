"""WhatsApp and PHLO notices for real: one request per recipient, reports applied once.

First part, real processes: the receiver and a worker pool, a Plivo simulator,
and the notices tick sent as beat sends it. Three notices fall due at once:
one by WhatsApp with an approved template (its signed status reports, read,
delivered or failed, settle each delivery), one naming a template Meta never
approved (refused: failed, never retried), and one whose voice goes through a
PHLO (one run per number with the notice's words, no call placed here), while
the PHLO endpoint answers 503 for a while.

Second part, in this process: a PHLO run whose answer is lost (the request
reached Plivo, the answer never came) cannot be looked up, so it is recorded
as failed and never run again; a WhatsApp message claimed by a worker that
died is settled from Plivo's message list: found there, it is not sent again;
never sent, it is sent once.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from celery import Celery
from sqlalchemy import select, update

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope, upgrade
from shared.core.embedded_redis import broker_url_for
from shared.core.models import NoticeDelivery, NoticeSend
from shared.plivo.channels import WhatsAppTemplate
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.polling import wait_for
from tests.worker_caches import clear_worker_caches
from worker import task_names
from worker.queues import NOTICE_PRIORITY, NOTIFY

PHLO_ID = "4c1a9f23-7f56-4879-bb80-db856e1e7701"
WA = [f"+1628555{5000 + i}" for i in range(4)]
WA_DELIVERED, WA_FAILED = WA[2], WA[3]
UNAPPROVED = ["+16285555101", "+16285555102"]
BY_PHLO = [f"+1628555{5200 + i}" for i in range(3)]


def oncall(start: datetime) -> str:
    window = f'{{start: "{start:%Y-%m-%d %H:%M:%S}", duration: 2h, time_zone: UTC}}'
    return f"""
contacts:
  ops: {{phone: "+16285555099"}}
policies:
  p:
    steps:
      - {{targets: [ops], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  wa: {{numbers: {WA!r}}}
  unapproved: {{numbers: {UNAPPROVED!r}}}
  phlo: {{numbers: {BY_PHLO!r}}}
notices:
  wa:
    title: Database upgrade
    window: {window}
    reminders: [start]
    audience: {{lists: [wa]}}
    templates:
      whatsapp:
        template: maintenance_notice
        language: en_US
        variables: ["{{title}}", "{{duration}}"]
  unapproved:
    title: Network change
    window: {window}
    reminders: [start]
    audience: {{lists: [unapproved]}}
    templates:
      whatsapp: {{template: never_approved, variables: ["{{title}}"]}}
  phlo:
    title: Storage move
    window: {window}
    reminders: [start]
    audience: {{lists: [phlo]}}
    channels: [voice]
    phlo_id: {PHLO_ID}
    templates: {{voice: "{{title}} starts {{start}} for {{duration}}."}}
"""


class Notices:
    def __init__(self, stack: Stack, sim: RunningSimulator) -> None:
        self.stack, self.sim = stack, sim

    def states(self) -> dict[str, tuple[str, str | None, str | None]]:
        with session_scope(self.stack.database_url) as session:
            rows = session.scalars(select(NoticeDelivery)).all()
            return {r.number: (r.state, r.error_code, r.provider_uuid) for r in rows}

    def api(self, suffix: str) -> list[dict]:
        return [
            r
            for r in self.sim.state.requests()
            if r["method"] == "POST" and r["path"].endswith(suffix)
        ]


@pytest.fixture(scope="module")
def notices(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notices]:
    data_dir: Path = tmp_path_factory.mktemp("notice-wa-phlo")
    config = data_dir / "oncall.yaml"
    config.write_text(oncall(datetime.now(UTC) + timedelta(days=1)))
    stack = Stack(
        StackConfig(
            data_dir=data_dir,
            worker_concurrency=3,
            extra_env={"CONFIG_FILE": str(config), "SMS_PER_SECOND": "20"},
        )
    )
    scenarios = {WA_DELIVERED: {"whatsapp": "delivered"}, WA_FAILED: {"whatsapp": "failed:1000"}}
    sim = start_in_thread(SimulatorConfig(receiver_url=stack.web_url, scenarios=scenarios))
    stack.config.extra_env["PLIVO_BASE_URL"] = sim.url
    try:
        with stack:
            stack.wait_for_workers()
            config.write_text(oncall(datetime.now(UTC) - timedelta(seconds=1)))
            yield Notices(stack, sim)
    finally:
        sim.stop()


def tick(stack: Stack) -> None:
    probe = Celery(broker=broker_url_for(stack.redis_url))
    try:
        probe.send_task(
            task_names.NOTICES_TICK, queue=NOTIFY, routing_key=NOTIFY, priority=NOTICE_PRIORITY
        )
    finally:
        probe.close()


def test_whatsapp_and_phlo_notices_reach_each_number_once(notices: Notices) -> None:
    faults = f"{notices.sim.url}/_sim/faults"
    assert requests.post(faults, json={"status": 503, "paths": ["/phlo/"]}, timeout=5).ok
    tick(notices.stack)
    wait_for(
        lambda: any(r["status"] == 503 for r in notices.api(f"/phlo/{PHLO_ID}")),
        timeout=15,
        what="a PHLO run refused with 503",
    )
    assert requests.delete(faults, timeout=5).ok  # Plivo is back: the run is retried
    finals = {"delivered", "failed", "handed_off"}

    def settled() -> bool:
        states = notices.states()
        return len(states) == 9 and all(state in finals for state, _e, _u in states.values())

    wait_for(settled, timeout=20, what="every delivery settled")
    wait_for(lambda: notices.states()[WA[0]][0] == "delivered", timeout=10, what="reports")
    states = notices.states()

    # WhatsApp: one template message per number, its words rendered once.
    sent = [r for r in notices.api("/Message/") if r["status"] == 202]
    assert Counter("+" + r["body"]["dst"] for r in sent) == Counter(WA)
    template = sent[0]["body"]["template"]
    assert (sent[0]["body"]["type"], template["name"], template["language"]) == (
        "whatsapp",
        "maintenance_notice",
        "en_US",
    )
    assert template["components"] == [
        {
            "type": "body",
            "parameters": [
                {"type": "text", "text": "Database upgrade"},
                {"type": "text", "text": "2 hours"},
            ],
        }
    ]
    assert {n: states[n][:2] for n in WA} == {
        WA[0]: ("delivered", None),  # read
        WA[1]: ("delivered", None),
        WA_DELIVERED: ("delivered", None),
        WA_FAILED: ("failed", "1000"),
    }
    reports = [c for c in notices.sim.state.callbacks() if c["kind"].startswith("whatsapp:")]
    assert {c["status"] for c in reports} == {200}  # signed, and taken by the receiver
    assert {c["params"]["Status"] for c in reports} >= {"queued", "sent", "delivered", "read"}

    # A template never approved: refused by Plivo, failed, not tried again.
    refused = [r for r in notices.api("/Message/") if r["status"] == 400]
    assert Counter("+" + r["body"]["dst"] for r in refused) == Counter(UNAPPROVED)
    assert {states[n][:2] for n in UNAPPROVED} == {("failed", "http_400")}

    # PHLO: one run per number (after the 503s), with the words; no call placed here.
    listed = requests.get(f"{notices.sim.url}/_sim/phlo_runs", timeout=5).json()
    runs = {run["phlo_run_id"]: run for run in listed}
    assert Counter("+" + run["to"] for run in runs.values()) == Counter(BY_PHLO)
    assert {states[n][0] for n in BY_PHLO} == {"handed_off"}
    assert {states[n][2] for n in BY_PHLO} == set(runs)  # each delivery names its run
    payload = next(iter(runs.values()))["payload"]
    assert payload["title"] == "Storage move" and payload["text"].startswith("Storage move starts")
    assert payload["from"] == "+14155550000" and payload["duration"] == "2 hours"
    assert notices.api("/Call/") == []

    def sends() -> set[str]:
        with session_scope(notices.stack.database_url) as session:
            return set(session.scalars(select(NoticeSend.state)))

    wait_for(lambda: sends() == {"done"}, timeout=10, what="every send done")
    metrics = requests.get(f"{notices.stack.web_url}/metrics", timeout=10).text
    assert 'alert_dispatch_phlo_runs_total{result="ok"} 3.0' in metrics
    assert 'alert_dispatch_phlo_runs_total{result="retry"}' in metrics
    assert 'alert_dispatch_notice_whatsapp_total{result="handed_off"} 4.0' in metrics
    assert 'alert_dispatch_notice_whatsapp_total{result="read"} 2.0' in metrics


# --------------------------------------------------------------------------- in this process


@pytest.fixture
def in_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broker_env: str
) -> Iterator[tuple[str, RunningSimulator, dict[str, str]]]:
    """The worker's settings on a migrated SQLite file, the test Redis and a simulator,
    the three notices started by one tick: (database URL, simulator, send id by notice)."""
    sim = start_in_thread(SimulatorConfig(stall_seconds=3.0))
    url = f"sqlite:///{tmp_path / 'notices.db'}"
    upgrade(url)
    config = tmp_path / "oncall.yaml"
    config.write_text(oncall(datetime.now(UTC) - timedelta(seconds=1)))
    for name, value in {
        "DATABASE_URL": url,
        "REDIS_URL": broker_env,
        "DATA_DIR": str(tmp_path),
        "PLIVO_BASE_URL": sim.url,
        "PUBLIC_BASE_URL": "http://127.0.0.1:9",
        "CONFIG_FILE": str(config),
        "PLIVO_READ_TIMEOUT": "0.5",
    }.items():
        monkeypatch.setenv(name, value)
    clear_worker_caches()
    try:
        from worker.tasks.notices_tick import notices_tick

        assert notices_tick()["started"] == 3
        with session_scope(url) as session:
            sends = dict(session.execute(select(NoticeSend.notice, NoticeSend.id)).all())
        yield url, sim, sends
    finally:
        sim.stop()
        monkeypatch.undo()
        clear_worker_caches()


def run_chain(
    task: Callable[[str], str], send_id: str, until: tuple[str, ...] = ("finish", "closed")
) -> list[str]:
    """Drive a send's chain in this process, as a worker would."""
    steps, deadline = [], time.monotonic() + 20
    while not steps or steps[-1] not in until:
        assert time.monotonic() < deadline, Counter(steps)
        steps.append(task(send_id))
    return steps


def test_a_phlo_run_whose_answer_is_lost_is_failed_never_run_twice(in_process) -> None:
    url, sim, sends = in_process
    from worker.tasks.notice_call_batch import notice_call_batch

    fault = {"timeout_after_receive": True, "paths": ["/phlo/"]}
    assert requests.post(f"{sim.url}/_sim/faults", json=fault, timeout=5).ok
    run_chain(notice_call_batch, sends["phlo"])
    runs = requests.get(f"{sim.url}/_sim/phlo_runs", timeout=5).json()
    assert Counter("+" + run["to"] for run in runs) == Counter(BY_PHLO)  # each ran once
    with session_scope(url) as session:
        rows = session.scalars(select(NoticeDelivery).where(NoticeDelivery.number.in_(BY_PHLO)))
        assert {(r.state, r.error_code) for r in rows} == {("failed", "unknown_outcome")}


def test_an_abandoned_whatsapp_claim_is_settled_from_plivo_s_list_never_resent(
    in_process,
) -> None:
    url, sim, sends = in_process
    from shared.notices.single import claim_one
    from worker import context
    from worker.tasks.notice_whatsapp_batch import notice_whatsapp_batch

    def abandon() -> str:
        """Claim one message as a worker would, commit, and die: nothing recorded after."""
        with session_scope(url) as session:
            claimed = claim_one(
                session, sends["wa"], channel="whatsapp", provider="primary", now=datetime.now(UTC)
            )
        assert claimed.number is not None
        return claimed.number

    left = abandon()  # died after its request left
    template = WhatsAppTemplate("maintenance_notice", "en_US", ("Database upgrade", "2 hours"))
    context.plivo_client().send_whatsapp_template(template, src="+14155550000", dst=left)
    never_left = abandon()  # died before its request
    assert run_chain(notice_whatsapp_batch, sends["wa"], until=("wait",))[-1] == "wait"
    with session_scope(url) as session:  # the crash was a while ago
        session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.state == "claimed")
            .values(claimed_at=datetime.now(UTC) - timedelta(hours=1))
        )
    run_chain(notice_whatsapp_batch, sends["wa"])
    sent = Counter("+" + m.dst for m in sim.state.messages() if m.type == "whatsapp")
    assert sent == Counter(WA) and never_left in sent
    with session_scope(url) as session:
        rows = {r.number: r for r in session.scalars(select(NoticeDelivery))}
    found = next(m for m in sim.state.messages() if "+" + m.dst == left)
    assert (rows[left].state, rows[left].provider_uuid) == ("handed_off", found.message_uuid)
    assert {rows[n].state for n in WA} == {"handed_off"}
