"""The first page of a routed alert leaves after one commit: routing, planning and the
claim share a transaction, made durable before the request.

Run in this process as a worker would run the routing task, on a real database
(SQLite, and PostgreSQL when TEST_DATABASE_URL is set), the test Redis and the
Plivo simulator. Every transaction's end is timed against the moment the
simulator received the request.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Engine

from shared.alerts.ingest import ingest
from shared.alerts.schemas import AlertIn
from shared.core.db import session_scope
from shared.core.models import Notification
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.sql_events import statements_sent
from tests.worker_caches import clear_worker_caches

ONCALL = """
contacts:
  ops: {phone: "+16285550090"}
policies:
  p:
    steps:
      - {targets: [ops], channels: [sms], wait: 5m}
default_policy: p
"""


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    database_url: str,
    broker_env: str,
    redis_client: object,  # the test Redis, emptied: no report an earlier test left waits
) -> Iterator[tuple[str, RunningSimulator]]:
    sim = start_in_thread(SimulatorConfig(sms_per_second=1000))
    config = tmp_path / "oncall.yaml"
    config.write_text(ONCALL)
    for name, value in {
        "DATABASE_URL": database_url,
        "REDIS_URL": broker_env,
        "DATA_DIR": str(tmp_path),
        "PLIVO_BASE_URL": sim.url,
        "CONFIG_FILE": str(config),
        "SMS_PER_SECOND": "1000",
        "SENDER_SMS_PER_SECOND": "1000",
    }.items():
        monkeypatch.setenv(name, value)
    clear_worker_caches()
    yield database_url, sim
    sim.stop()
    monkeypatch.undo()
    clear_worker_caches()


def accepted(url: str, number: str) -> int:
    with session_scope(url) as session:
        alert = AlertIn(summary="disk full", severity="critical", recipients=[number])
        return ingest(session, alert, via="api", integration="api").alert_id


def request_times(sim: RunningSimulator, number: str) -> list[float]:
    return [
        r["time"]
        for r in sim.state.requests()
        if r["method"] == "POST"
        and r["path"].endswith("/Message/")
        and number.lstrip("+") in r["body"]["dst"]
    ]


def test_the_first_page_follows_one_commit(worker_env: tuple[str, RunningSimulator]) -> None:
    url, sim = worker_env
    from worker.tasks.apply_delivery_reports import apply_delivery_reports
    from worker.tasks.dispatch_alert import dispatch_alerts

    number = "+16285550101"
    alert_id = accepted(url, number)
    ended: list[tuple[float, str]] = []  # (when, "commit" or "rollback") of every transaction
    synchronous: list[str] = []

    def on_commit(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.dialect.name == "postgresql":
            synchronous.append(connection.exec_driver_sql("SHOW synchronous_commit").scalar())
        ended.append((time.time(), "commit"))

    def on_rollback(connection) -> None:  # type: ignore[no-untyped-def]
        ended.append((time.time(), "rollback"))

    event.listen(Engine, "commit", on_commit)
    event.listen(Engine, "rollback", on_rollback)
    try:
        assert dispatch_alerts([alert_id]) == ["fired"]
    finally:
        event.remove(Engine, "commit", on_commit)
        event.remove(Engine, "rollback", on_rollback)

    [sent_at] = request_times(sim, number)
    before = [kind for at, kind in ended if at < sent_at]
    # Routing, the chain's start, the step's plan and the page's claim: one transaction,
    # and no read of its own (the read before the request is the claim itself).
    assert before == ["commit"], before
    if synchronous:
        assert synchronous[0] == "on"  # the claim is on disk before its request leaves
    # Plivo's answer is recorded by the report inbox's drainer (accepted_sends).
    assert apply_delivery_reports() == 1
    with session_scope(url) as session:
        [state] = session.scalars(
            select(Notification.state).where(Notification.alert_id == alert_id)
        )
    assert state == "queued"


def test_a_person_paged_moments_ago_is_held_not_sent_again(
    worker_env: tuple[str, RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page claimed with its plan leaves only when nothing holds it: a second alert
    for a person whose bundle window is open waits for the window, as any send does."""
    url, sim = worker_env
    monkeypatch.setenv("BUNDLE_WINDOW_S", "30")
    clear_worker_caches()
    from worker.tasks.apply_delivery_reports import apply_delivery_reports
    from worker.tasks.dispatch_alert import dispatch_alerts

    number = "+16285550102"
    from worker import context

    # Redis outlives the test: the other database's run may have left this person's window.
    context.redis_client().delete(f"bundle-window:sms:{number}")
    first, second = accepted(url, number), accepted(url, number)
    assert dispatch_alerts([first]) == ["fired"]
    assert dispatch_alerts([second]) == ["fired"]
    assert len(request_times(sim, number)) == 1
    apply_delivery_reports()
    with session_scope(url) as session:
        states = dict(
            session.execute(
                select(Notification.alert_id, Notification.state).where(
                    Notification.alert_id.in_([first, second])
                )
            ).all()
        )
    assert states == {first: "queued", second: "pending"}


def texts_to(sim: RunningSimulator, number: str) -> list[str]:
    return [
        r["body"]["text"]
        for r in sim.state.requests()
        if r["method"] == "POST"
        and r["path"].endswith("/Message/")
        and number.lstrip("+") in r["body"]["dst"]
    ]


def pages_of(url: str, alert_ids: list[int]) -> list[int]:
    with session_scope(url) as session:
        return list(
            session.scalars(
                select(Notification.id)
                .where(Notification.alert_id.in_(alert_ids))
                .order_by(Notification.id)
            )
        )


def test_pages_left_by_their_lead_are_sent_by_one_task_as_one_message(
    worker_env: tuple[str, RunningSimulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alerts fired together for a person whose bundle window is open: the lead is held,
    and the one follower task holds the others too; once the window has closed, the
    same task sends all three as one message (its first page claims the rest, the
    held lead too), never twice."""
    url, sim = worker_env
    monkeypatch.setenv("BUNDLE_WINDOW_S", "30")
    clear_worker_caches()
    from worker import context
    from worker.tasks.dispatch_alert import dispatch_alerts
    from worker.tasks.send_followers import send_followers

    number = "+16285550103"
    # Redis outlives the test: the other database's run may have left this person's window.
    context.redis_client().delete(f"bundle-window:sms:{number}")
    assert dispatch_alerts([accepted(url, number)]) == ["fired"]  # opens the window
    together = [accepted(url, number) for _ in range(3)]
    assert dispatch_alerts(together) == ["fired"] * 3
    assert len(texts_to(sim, number)) == 1  # the lead was held for the window
    followers = pages_of(url, together)[1:]
    assert send_followers(followers, "sms") == ["held-for-bundle"] * 2
    assert len(texts_to(sim, number)) == 1

    context.redis_client().delete(f"bundle-window:sms:{number}")  # the window is over
    assert send_followers(followers, "sms") == ["accepted", "skipped"]
    texts = texts_to(sim, number)
    assert len(texts) == 2 and texts[1].startswith("3 alerts firing")
    assert send_followers(followers, "sms") == ["skipped", "skipped"]
    assert len(texts_to(sim, number)) == 2


def test_alerts_routed_together_read_the_maintenance_rules_once(
    worker_env: tuple[str, RunningSimulator],
) -> None:
    """A body of many alerts is routed in one write transaction: the notices in force are
    read once for all of them, not once per alert."""
    url, _ = worker_env
    from worker.tasks.dispatch_alert import dispatch_alerts

    together = [accepted(url, f"+1628555011{i}") for i in range(4)]
    reads: list[str] = []

    def on_execute(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "FROM notices" in statement:
            reads.append(statement)

    event.listen(Engine, "before_cursor_execute", on_execute)
    try:
        assert dispatch_alerts(together) == ["fired"] * 4
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)
    assert len(reads) == 1


def test_alerts_routed_together_are_claimed_and_logged_in_one_statement_each(
    worker_env: tuple[str, RunningSimulator],
) -> None:
    """An Alertmanager group's alerts are claimed for routing in one UPDATE, each chain
    started and its first step fired in one more, and the steps' events written with
    the first page's claim in one INSERT, each alert's events still in their order;
    an id named twice is routed once."""
    url, _ = worker_env
    from shared.alerts.view import timeline
    from worker.tasks.dispatch_alert import dispatch_alerts

    together = [accepted(url, f"+1628555012{i}") for i in range(5)]
    statements: list[str] = []

    def on_execute(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()[:3]))

    event.listen(Engine, "before_cursor_execute", on_execute)
    try:
        assert dispatch_alerts([*together, together[0]]) == ["fired"] * 5 + ["already"]
    finally:
        event.remove(Engine, "before_cursor_execute", on_execute)

    claims = [s for s in statements if s == "UPDATE alerts SET"]
    assert len(claims) == 1 + 5  # one claim for the group, then each chain started and fired
    assert statements.count("INSERT INTO events") == 1  # the group's steps and the page's claim
    for alert_id in together:
        with session_scope(url) as session:
            kinds = [e["kind"] for e in timeline(session, alert_id) or []]
        assert kinds[:3] == ["alert.accepted", "notification.planned", "escalation.step_fired"]


def test_a_groups_alerts_on_one_chain_are_started_and_planned_in_one_statement_each(
    worker_env: tuple[str, RunningSimulator],
) -> None:
    """Thirty alerts of one request for one policy: their chains start in one UPDATE, their
    pages are planned in one INSERT, each alert has its page and its events in order, the
    person gets one message for all of them, and routing the group again plans nothing."""
    url, sim = worker_env
    from shared.alerts.view import timeline
    from worker.tasks.apply_delivery_reports import apply_delivery_reports
    from worker.tasks.dispatch_alert import dispatch_alerts

    with session_scope(url) as session:
        together = [
            ingest(
                session, AlertIn(summary=f"disk {n} full"), via="api", integration="api"
            ).alert_id
            for n in range(30)
        ]
    with statements_sent() as sent:
        assert dispatch_alerts(together) == ["fired"] * 30

    statements = [" ".join(statement.split()[:3]) for statement in sent]
    assert statements.count("INSERT INTO notifications") == 1
    assert statements.count("UPDATE alerts SET") == 2  # claimed for routing, then started
    pages = pages_of(url, together)
    assert len(pages) == 30
    for alert_id in together:
        with session_scope(url) as session:
            kinds = [e["kind"] for e in timeline(session, alert_id) or []]
        assert kinds[:3] == ["alert.accepted", "notification.planned", "escalation.step_fired"]
    [text] = texts_to(sim, "+16285550090")
    assert text.startswith("30 alerts firing")
    assert apply_delivery_reports() == 1
    with session_scope(url) as session:
        states = session.scalars(select(Notification.state).where(Notification.id.in_(pages)))
        assert set(states) == {"queued"}

    assert dispatch_alerts(together) == ["already"] * 30
    assert pages_of(url, together) == pages
    assert len(texts_to(sim, "+16285550090")) == 1
