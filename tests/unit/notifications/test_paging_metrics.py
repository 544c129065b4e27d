"""Paging times are observed once, and only for what committed (real database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from shared.alerts.lifecycle import acknowledge
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.events import record_event
from shared.core.models import Alert, Event, Notification
from shared.notifications.paging_metrics import (
    elapsed_s,
    observe_first_pages,
    observe_when_committed,
)
from shared.notifications.planning import plan_notification

T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_count", labels) or 0.0


def total(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"{name}_sum", labels) or 0.0


def new_alert(url: str, severity: str = "critical", number: str = "+14155550101") -> int:
    alert = AlertIn.model_validate({"summary": "disk full", "severity": severity})
    with session_scope(url) as session:
        alert_id = accept_alert(session, alert).alert_id
        session.get(Alert, alert_id).created_at = T0
    return alert_id


def test_elapsed_is_never_negative():
    assert elapsed_s(T0, T0 + timedelta(seconds=2.5)) == 2.5
    assert elapsed_s(T0, T0 - timedelta(seconds=1)) == 0.0


def test_observations_wait_for_the_outermost_commit(database_url):
    seen: list[str] = []
    with session_scope(database_url) as session:
        observe_when_committed(session, lambda: seen.append("first"))
        with session.begin_nested():
            record_event(session, "test.nested")
        assert seen == []  # a savepoint released is not the commit
        try:
            with session.begin_nested():
                record_event(session, "test.dup", dedup_key="k")
                record_event(session, "test.dup", dedup_key="k")
                raise RuntimeError("roll the savepoint back")
        except RuntimeError:
            pass
        observe_when_committed(session, lambda: seen.append("second"))
        assert seen == []
    assert seen == ["first", "second"]


def test_a_rolled_back_transaction_observes_nothing(database_url):
    seen: list[str] = []
    with pytest.raises(RuntimeError), session_scope(database_url) as session:
        observe_when_committed(session, lambda: seen.append("never"))
        raise RuntimeError("the transaction fails")
    assert seen == []


def test_first_page_is_observed_once_per_alert_and_bundle_member(database_url):
    lead_alert = new_alert(database_url, "critical")
    member_alert = new_alert(database_url, "warning")
    before = count("alert_dispatch_time_to_first_page_seconds", severity="critical")
    before_sum = total("alert_dispatch_time_to_first_page_seconds", severity="critical")
    before_warning = count("alert_dispatch_time_to_first_page_seconds", severity="warning")
    with session_scope(database_url) as session:
        lead = plan_notification(
            session, alert_id=lead_alert, channel="sms", destination="+14155550101", text="x"
        )
        member = plan_notification(
            session, alert_id=member_alert, channel="sms", destination="+14155550101", text="y"
        )
        session.get(Notification, member).bundle_lead_id = lead
        voice = plan_notification(
            session, alert_id=lead_alert, channel="voice", destination="+14155550101", text=""
        )
        session.flush()
        lead_id, voice_id = lead, voice
    with session_scope(database_url) as session:
        assert observe_first_pages(session, lead_id, T0 + timedelta(seconds=3)) == 2
    with session_scope(database_url) as session:
        # The call for the same alert, accepted later: not its first page.
        assert observe_first_pages(session, voice_id, T0 + timedelta(seconds=9)) == 0
    assert count("alert_dispatch_time_to_first_page_seconds", severity="critical") == before + 1
    assert total("alert_dispatch_time_to_first_page_seconds", severity="critical") == (
        before_sum + 3
    )
    assert count("alert_dispatch_time_to_first_page_seconds", severity="warning") == (
        before_warning + 1
    )
    with session_scope(database_url) as session:
        kinds = session.scalars(select(Event.kind).where(Event.alert_id == lead_alert)).all()
    assert kinds.count("alert.first_page") == 1


def test_time_to_ack_is_observed_by_the_acknowledgement_that_changed_the_alert(database_url):
    alert_id = new_alert(database_url, "error")
    before = count("alert_dispatch_time_to_ack_seconds", severity="error")
    with session_scope(database_url) as session:
        assert acknowledge(session, alert_id, by="ops", via="api").changed
        assert not acknowledge(session, alert_id, by="ops", via="api").changed
    with session_scope(database_url) as session:
        assert not acknowledge(session, alert_id, by="someone", via="cli").changed
    assert count("alert_dispatch_time_to_ack_seconds", severity="error") == before + 1


def test_a_rolled_back_acknowledgement_is_not_observed(database_url):
    alert_id = new_alert(database_url, "info")
    before = count("alert_dispatch_time_to_ack_seconds", severity="info")
    with pytest.raises(RuntimeError), session_scope(database_url) as session:
        assert acknowledge(session, alert_id, by="ops", via="api").changed
        raise RuntimeError("the request failed after the acknowledgement")
    assert count("alert_dispatch_time_to_ack_seconds", severity="info") == before
    with session_scope(database_url) as session:
        assert session.get(Alert, alert_id).status == "triggered"
