"""Acknowledged is not forgotten, on a real database: an acknowledgement left unresolved
for the policy's `ack_timeout` puts the alert back into escalation, once, and its
page says so. Times are fixed relative to the acknowledgement."""

from __future__ import annotations

from datetime import datetime, timedelta

from prometheus_client import REGISTRY
from sqlalchemy import select

from shared.alerts.lifecycle import acknowledge, resolve
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.alerts.view import alert_view
from shared.core.db import session_scope
from shared.core.models import Alert, Event, utcnow
from shared.escalation.ack_timeout import (
    due_ack_timeouts,
    restart_ack_timeouts,
    restart_timed_out,
)
from shared.escalation.engine import claim_due_steps, fire, start
from shared.escalation.plan import Position
from shared.notifications.sms_text import MAX_SMS_CHARS, alert_sms_text
from shared.routing.oncall_config import parse_config
from shared.routing.route import freeze_chain

CONFIG = parse_config(
    """
contacts:
  alice: {phone: "+14155550301", channels: [sms]}
policies:
  timed:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
    repeat: 1
    ack_timeout: 30m
  plain:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
default_policy: timed
"""
)
TIMEOUT = timedelta(minutes=30)


def _paged(session, policy: str = "timed") -> int:
    """An alert on its chain, its first step fired."""
    alert_id = accept_alert(session, AlertIn(summary="disk full", severity="critical")).alert_id
    assert start(session, alert_id, policy, utcnow(), snapshot=freeze_chain(CONFIG, policy))
    config_policy = CONFIG.policies[policy]
    fired = fire(session, alert_id, Position(0, 0), CONFIG, config_policy, utcnow(), _text)
    assert fired.fired
    return alert_id


def _text(_contact: object, _channel: str) -> str:
    return "x"


def _acked(database_url: str, policy: str = "timed", by: str = "alice") -> tuple[int, datetime]:
    with session_scope(database_url) as session:
        alert_id = _paged(session, policy)
    with session_scope(database_url) as session:
        assert acknowledge(session, alert_id, by=by, via="sms").changed
    with session_scope(database_url) as session:
        acked_at = session.get(Alert, alert_id).acknowledged_at
    return alert_id, acked_at


def _timed_out_events(session, alert_id: int) -> list[Event]:
    return list(
        session.scalars(
            select(Event)
            .where(Event.alert_id == alert_id, Event.kind == "alert.ack_timed_out")
            .order_by(Event.id)
        )
    )


def _count() -> float:
    value = REGISTRY.get_sample_value("alert_dispatch_ack_timeouts_total", {"policy": "timed"})
    return value or 0.0


def test_an_unresolved_ack_pages_again_from_the_first_step_saying_so(database_url):
    alert_id, acked_at = _acked(database_url)
    due = acked_at + TIMEOUT
    before = _count()
    with session_scope(database_url) as session:
        assert session.get(Alert, alert_id).next_fire_at == due
        assert alert_view(session, alert_id, now=due)["ack_timeout"]["state"] == "armed"
        assert restart_ack_timeouts(session, due - timedelta(seconds=1)) == []
    with session_scope(database_url) as session:
        assert restart_ack_timeouts(session, due) == [alert_id]
        # The tick hands the restarted chain over in the same pass.
        assert claim_due_steps(session, due, due - timedelta(minutes=1)) == [(alert_id, 0, 2)]
    assert _count() == before + 1
    with session_scope(database_url) as session:
        alert = session.get(Alert, alert_id)
        assert (alert.status, alert.escalation, alert.esc_step, alert.esc_round) == (
            "triggered",
            "active",
            0,
            2,
        )
        [event] = _timed_out_events(session, alert_id)
        assert event.detail["acknowledged_by"] == "alice"
        assert event.detail["ack_timeout_s"] == 1800
        fired = fire(
            session, alert_id, Position(0, 2), CONFIG, CONFIG.policies["timed"], due, _text
        )
        assert len(fired.planned) == 1  # a new row: the first page's plan does not swallow it
        text = alert_sms_text(alert, reply_code=4, now=due)
        view = alert_view(session, alert_id, now=due)
    assert text.startswith(
        "ACK TIMED OUT (acked 30 min ago by alice, not resolved): [CRITICAL] disk full"
    )
    assert len(text) <= MAX_SMS_CHARS
    assert view["ack_timeout"]["state"] == "timed_out"
    assert view["ack_timeout"]["text"] == "ACK TIMED OUT (acked 30 min ago by alice, not resolved)"


def test_resolving_before_the_timeout_cancels_it(database_url):
    alert_id, acked_at = _acked(database_url)
    with session_scope(database_url) as session:
        assert resolve(session, alert_id, by="alice", via="api").changed
    with session_scope(database_url) as session:
        assert restart_ack_timeouts(session, acked_at + 10 * TIMEOUT) == []
        alert = session.get(Alert, alert_id)
        assert (alert.status, alert.next_fire_at) == ("resolved", None)
        assert _timed_out_events(session, alert_id) == []


def test_a_resolve_racing_the_tick_wins(database_url):
    alert_id, acked_at = _acked(database_url)
    with session_scope(database_url) as session:
        [due] = due_ack_timeouts(session, acked_at + TIMEOUT)
    with session_scope(database_url) as session:
        resolve(session, alert_id, by="alice", via="api")
    with session_scope(database_url) as session:
        assert not restart_timed_out(session, due, acked_at + TIMEOUT)
        assert session.get(Alert, alert_id).status == "resolved"


def test_without_ack_timeout_an_ack_is_for_good(database_url):
    alert_id, acked_at = _acked(database_url, policy="plain")
    with session_scope(database_url) as session:
        assert session.get(Alert, alert_id).next_fire_at is None
        assert restart_ack_timeouts(session, acked_at + timedelta(days=30)) == []
        assert session.get(Alert, alert_id).status == "acknowledged"
        assert alert_view(session, alert_id)["ack_timeout"] is None


def test_two_ticks_racing_restart_it_once(database_url):
    alert_id, acked_at = _acked(database_url)
    now = acked_at + TIMEOUT
    # Both ticks find it due before either restarts it.
    with session_scope(database_url) as session:
        [first] = due_ack_timeouts(session, now)
    with session_scope(database_url) as session:
        [second] = due_ack_timeouts(session, now)
    before = _count()
    with session_scope(database_url) as session:
        assert restart_timed_out(session, first, now)
    with session_scope(database_url) as session:
        assert not restart_timed_out(session, second, now)
    with session_scope(database_url) as session:
        assert restart_ack_timeouts(session, now + timedelta(seconds=1)) == []
        assert len(_timed_out_events(session, alert_id)) == 1
        assert session.get(Alert, alert_id).esc_round == 2
    assert _count() == before + 1


def test_acknowledging_again_starts_a_new_timeout(database_url):
    alert_id, acked_at = _acked(database_url)
    with session_scope(database_url) as session:
        assert restart_ack_timeouts(session, acked_at + TIMEOUT) == [alert_id]
    with session_scope(database_url) as session:
        assert acknowledge(session, alert_id, by="bob", via="voice").changed
    with session_scope(database_url) as session:
        again = session.get(Alert, alert_id)
        assert again.acknowledged_by == "bob"
        assert again.next_fire_at == again.acknowledged_at + TIMEOUT
        second_due = again.next_fire_at
        assert restart_ack_timeouts(session, second_due - timedelta(seconds=1)) == []
    with session_scope(database_url) as session:
        assert restart_ack_timeouts(session, second_due) == [alert_id]
        assert session.get(Alert, alert_id).esc_round == 4
        assert [e.detail["acknowledged_by"] for e in _timed_out_events(session, alert_id)] == [
            "alice",
            "bob",
        ]
