"""Hot UPDATEs built once on the table keep the session's loaded rows in step, as the
ORM's own UPDATE did: what a later step of the same transaction reads is what was written."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert, claim_routing
from shared.core.db import session_scope
from shared.core.enums import EscalationState
from shared.core.models import Notification, utcnow
from shared.escalation.engine import start
from shared.notifications.planning import plan_notification
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move
from tests.sql_events import statements_sent


def test_a_started_chain_is_seen_on_the_loaded_alert_without_reading_it_again(database_url):
    with session_scope(database_url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id
    now = utcnow()
    with statements_sent() as seen, session_scope(database_url) as session:
        alert = claim_routing(session, alert_id)
        assert alert is not None and alert.escalation == EscalationState.PENDING
        assert start(session, alert_id, "primary", now, snapshot={"steps": []})
        seen.clear()
        assert (alert.policy, alert.esc_step, alert.esc_round) == ("primary", 0, 0)
        assert alert.escalation == EscalationState.ACTIVE
        assert alert.escalation_snapshot == {"steps": []}
        assert seen == []  # in step without a SELECT
        # A second start finds the chain started and changes nothing.
        assert not start(session, alert_id, "other", now + timedelta(seconds=1), snapshot={})
        assert alert.policy == "primary"


def test_a_claim_counts_the_attempt_on_the_loaded_row_and_an_undo_takes_it_back(database_url):
    with session_scope(database_url) as session:
        alert_id = accept_alert(session, AlertIn(summary="disk full")).alert_id
        notification_id = plan_notification(
            session, alert_id=alert_id, channel="sms", destination="+14155550101", text="x"
        )
    with session_scope(database_url) as session:
        loaded = session.get(Notification, notification_id)
        assert loaded is not None and loaded.send_attempts == 0
        assert move(session, notification_id, S.SENDING, reason="t", provider="plivo")
        assert (loaded.state, loaded.provider, loaded.send_attempts) == ("sending", "plivo", 1)
        # The undo computes its count in the database (send_attempts - 1): still in step.
        assert move(
            session,
            notification_id,
            S.PENDING,
            reason="handed back",
            send_attempts=Notification.send_attempts - 1,
        )
        assert (loaded.state, loaded.send_attempts) == ("pending", 0)
        # A move the row's state does not allow applies nothing and leaves the copy alone.
        assert not move(session, notification_id, S.DELIVERED, reason="t")
        assert loaded.state == "pending"
    with session_scope(database_url) as session:
        stored = session.execute(
            select(Notification.state, Notification.send_attempts).where(
                Notification.id == notification_id
            )
        ).one()
    assert tuple(stored) == ("pending", 0)
