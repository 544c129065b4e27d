"""Alerts routed together onto one chain are started by one compare-and-set
(shared.escalation.engine.start_many), and each still starts at most once."""

from __future__ import annotations

from sqlalchemy import select

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert, claim_routings
from shared.core.db import session_scope
from shared.core.enums import EscalationState
from shared.core.models import Alert, utcnow
from shared.escalation.engine import start_many
from shared.routing.route import Routed
from tests.sql_events import statements_sent

CHAIN = Routed("primary", {"steps": []})


def _alerts(url: str, count: int) -> list[int]:
    with session_scope(url) as session:
        return [
            accept_alert(session, AlertIn(summary=f"disk {n} full")).alert_id for n in range(count)
        ]


def test_thirty_alerts_on_one_chain_start_in_one_update_and_only_once(database_url):
    ids = _alerts(database_url, 30)
    with session_scope(database_url) as session:
        session.get(Alert, ids[7]).status = "acknowledged"  # closed before its routing
    now = utcnow()
    position = {"next_fire_at": now, "esc_step": 0, "esc_round": 0}
    with session_scope(database_url) as session:
        loaded = claim_routings(session, ids)
        with statements_sent() as sent:
            started = start_many(session, ids, CHAIN, position)
        assert len([s for s in sent if s.lstrip().upper().startswith("UPDATE")]) == 1
        assert started == set(ids) - {ids[7]}
        # The session's copies took what was written, without being read again.
        assert {(a.policy, a.escalation) for i, a in loaded.items() if i in started} == {
            ("primary", EscalationState.ACTIVE)
        }
        assert start_many(session, ids, Routed("other", {}), position) == set()
    with session_scope(database_url) as session:
        rows = session.execute(select(Alert.id, Alert.policy, Alert.escalation_snapshot)).all()
    assert {(policy, str(snapshot)) for i, policy, snapshot in rows if i != ids[7]} == {
        ("primary", str({"steps": []}))
    }
