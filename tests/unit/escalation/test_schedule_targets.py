"""A step that names a schedule pages whoever is on call when it fires; a gap moves on, loudly."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY
from sqlalchemy import select

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import Alert, Event
from shared.escalation.engine import fire, start
from shared.escalation.plan import Position
from shared.routing.oncall_config import parse_config
from shared.routing.route import freeze_chain, thaw_chain
from shared.schedules.overrides import Override

CONFIG = parse_config(
    """
contacts:
  ann: {phone: "+14155550401", channels: [sms]}
  bob: {phone: "+14155550402", channels: [sms]}
  cid: {phone: "+14155550403", channels: [sms]}
  lead: {phone: "+14155550404", channels: [sms]}
schedules:
  days:
    time_zone: Europe/Berlin
    layers:
      - name: weekdays
        rotation: {members: [ann, bob], shift: 1d, handoff: "09:00", start: 2026-11-30}
        restrict:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
policies:
  rota:
    steps:
      - {targets: [days], channels: [sms], wait: 300}
      - {targets: [lead], channels: [sms], wait: 300}
default_policy: rota
"""
)
MONDAY_10 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10:00 in Berlin: ann's day
TUESDAY_10 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # bob's day
SATURDAY_10 = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)  # nobody: the layer covers weekdays


def _fire_first_step(url: str, at: datetime, overrides=()) -> tuple[int, list[str]]:
    config, policy = thaw_chain(freeze_chain(CONFIG, "rota"))
    with session_scope(url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id
        start(session, alert_id, "rota", at, snapshot=freeze_chain(CONFIG, "rota"))
        result = fire(
            session,
            alert_id,
            Position(0, 0),
            config,
            policy,
            at,
            lambda c, ch: "x",
            overrides=overrides,
        )
        paged = [
            config.contacts[name].name
            for planned in result.planned
            for name in config.contacts
            if config.contacts[name].phone == _destination(session, planned.notification_id)
        ]
    return alert_id, paged


def _destination(session, notification_id: int) -> str:
    from shared.core.models import Notification

    return session.get(Notification, notification_id).destination


def test_the_step_pages_whoever_the_frozen_schedule_has_on_call_when_it_fires(database_url):
    assert _fire_first_step(database_url, MONDAY_10)[1] == ["ann"]
    assert _fire_first_step(database_url, TUESDAY_10)[1] == ["bob"]


def test_an_override_stored_after_the_chain_froze_still_counts(database_url):
    cover = Override("days", "cid", TUESDAY_10, SATURDAY_10, replaces="bob")
    assert _fire_first_step(database_url, TUESDAY_10, [cover])[1] == ["cid"]


def test_a_gap_moves_the_chain_on_at_once_and_is_loud(database_url, caplog):
    before = REGISTRY.get_sample_value("alert_dispatch_schedule_gaps_total", {"schedule": "days"})
    alert_id, paged = _fire_first_step(database_url, SATURDAY_10)
    assert paged == []
    with session_scope(database_url) as session:
        alert = session.get(Alert, alert_id)
        assert (alert.esc_step, alert.next_fire_at.replace(tzinfo=UTC)) == (1, SATURDAY_10)
        kinds = session.scalars(select(Event.kind).where(Event.alert_id == alert_id)).all()
    assert "escalation.nobody_on_call" in kinds
    after = REGISTRY.get_sample_value("alert_dispatch_schedule_gaps_total", {"schedule": "days"})
    assert (after or 0) - (before or 0) == 1
    assert any(
        r.levelname == "ERROR" and "nobody on call" in r.getMessage() for r in caplog.records
    )
