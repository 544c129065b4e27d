"""Alert and notification storage on a real database (SQLite, or PostgreSQL in CI)."""

import threading

import pytest
from sqlalchemy import func, select

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert, claim_routing
from shared.core.db import session_scope
from shared.core.models import Alert, Event, Notification, utcnow
from shared.notifications.delivery_reports import record_sms_reports
from shared.notifications.planning import PageRow, plan_notification, plan_notifications
from shared.notifications.state import NotificationState as S
from shared.notifications.store import apply_sms_report, move
from tests.sql_events import statements_sent


def _alert(**overrides):
    data = {"summary": "disk full", "severity": "critical", "recipients": ["+14155550101"]}
    data.update(overrides)
    return AlertIn.model_validate(data)


def _planned(url):
    with session_scope(url) as session:
        alert_id = accept_alert(session, _alert()).alert_id
        notification = plan_notification(
            session, alert_id=alert_id, channel="sms", destination="+14155550101", text="x"
        )
        return alert_id, notification


def test_same_dedup_key_while_open_is_an_occurrence(database_url):
    with session_scope(database_url) as session:
        first = accept_alert(session, _alert(dedup_key="k1"))
        second = accept_alert(session, _alert(dedup_key="k1"))
        other = accept_alert(session, _alert(dedup_key="k2"))
    assert first.created and not second.created and other.created
    assert second.alert_id == first.alert_id
    with session_scope(database_url) as session:
        assert session.get(Alert, first.alert_id).occurrences == 2


def test_resolved_alert_key_can_open_a_new_alert(database_url):
    with session_scope(database_url) as session:
        first = accept_alert(session, _alert(dedup_key="k"))
        session.get(Alert, first.alert_id).status = "resolved"
    with session_scope(database_url) as session:
        again = accept_alert(session, _alert(dedup_key="k"))
    assert again.created and again.alert_id != first.alert_id


def test_racing_producers_with_one_key_make_one_alert(database_url):
    results = []

    def post():
        with session_scope(database_url) as session:
            results.append(accept_alert(session, _alert(dedup_key="race")))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.alert_id for r in results}) == 1
    assert sum(r.created for r in results) == 1


def test_planning_twice_plans_once(database_url):
    alert_id, _ = _planned(database_url)
    with session_scope(database_url) as session:
        assert claim_routing(session, alert_id) is not None
        assert claim_routing(session, alert_id) is None
        again = plan_notification(
            session, alert_id=alert_id, channel="sms", destination="+14155550101", text="x"
        )
        assert again is None
        count = session.scalar(select(func.count()).select_from(Notification))
    assert count == 1


def test_pages_planned_together_take_one_insert_and_each_key_once(database_url):
    """A group's pages go in one INSERT; each row's id comes back in its place, None for
    a page planned before and for a key named twice, with one event per page planned."""
    alert_id, before = _planned(database_url)
    now = utcnow()

    def row(number: str, step: int = 0) -> PageRow:
        return PageRow(alert_id, "sms", number, "x", step, 0, now, contact="ops")

    rows = [row("+14155550102"), row("+14155550101"), row("+14155550103")]
    rows += [row("+14155550102"), row("+14155550101", step=1)]
    events: list[dict] = []
    with session_scope(database_url) as session, statements_sent() as sent:
        ids = plan_notifications(session, rows, events)
    inserts = [s for s in sent if s.lstrip().upper().startswith("INSERT INTO NOTIFICATIONS")]
    assert len(inserts) == 1
    assert ids[1] is None and ids[3] is None  # planned before; named twice
    new = [ids[0], ids[2], ids[4]]
    assert None not in new and before not in new and len(set(new)) == 3
    assert [e["notification_id"] for e in events] == new
    with session_scope(database_url) as session:
        stored = session.execute(
            select(Notification.id, Notification.destination, Notification.step)
        ).all()
    assert sorted(stored) == sorted(
        [(before, "+14155550101", 0), (ids[0], "+14155550102", 0)]
        + [(ids[2], "+14155550103", 0), (ids[4], "+14155550101", 1)]
    )


def test_only_one_claim_wins(database_url):
    _, notification_id = _planned(database_url)
    with session_scope(database_url) as session:
        assert move(session, notification_id, S.SENDING, reason="a")
    with session_scope(database_url) as session:
        assert not move(session, notification_id, S.SENDING, reason="b")
        assert session.get(Notification, notification_id).send_attempts == 1


def test_claim_refused_once_alert_is_acknowledged(database_url):
    alert_id, notification_id = _planned(database_url)
    with session_scope(database_url) as session:
        session.get(Alert, alert_id).status = "acknowledged"
    with session_scope(database_url) as session:
        assert not move(
            session, notification_id, S.SENDING, reason="x", only_while_alert_triggered=True
        )


def _report(notification_id, status, uuid="uuid-1", **extra):
    return {"MessageUUID": uuid, "Status": status, "To": "14155550101", **extra}


def test_same_report_twice_changes_nothing_the_second_time(database_url):
    _, nid = _planned(database_url)
    with session_scope(database_url) as session:
        move(session, nid, S.SENDING, reason="t")
        move(session, nid, S.QUEUED, reason="t", provider_uuid="uuid-1")
    params = _report(nid, "delivered")
    with session_scope(database_url) as session:
        notification = session.get(Notification, nid)
        [first] = record_sms_reports(session, [(notification, params)])
        outcome = apply_sms_report(session, nid, params)
    assert first is not None and outcome.result == "applied"
    with session_scope(database_url) as session:
        events_before = session.scalar(select(func.count()).select_from(Event))
        [second] = record_sms_reports(session, [(session.get(Notification, nid), params)])
        events_after = session.scalar(select(func.count()).select_from(Event))
    assert second is None
    assert events_after == events_before
    with session_scope(database_url) as session:
        assert session.get(Notification, nid).state == "delivered"


def test_late_sent_report_does_not_undo_delivered(database_url):
    _, nid = _planned(database_url)
    with session_scope(database_url) as session:
        move(session, nid, S.SENDING, reason="t")
        apply_sms_report(session, nid, _report(nid, "delivered"))
        outcome = apply_sms_report(session, nid, _report(nid, "sent"))
    assert outcome.result == "stale"
    with session_scope(database_url) as session:
        notification = session.get(Notification, nid)
        # The report overtook our own bookkeeping and taught us Plivo's uuid.
        assert notification.state == "delivered" and notification.provider_uuid == "uuid-1"


def test_undelivered_report_keeps_error_code(database_url):
    _, nid = _planned(database_url)
    with session_scope(database_url) as session:
        move(session, nid, S.SENDING, reason="t")
        apply_sms_report(session, nid, _report(nid, "undelivered", ErrorCode="80"))
    with session_scope(database_url) as session:
        notification = session.get(Notification, nid)
        assert (notification.state, notification.error_code) == ("undelivered", "80")


@pytest.mark.parametrize("status", ["weird", ""])
def test_unknown_status_is_not_applied(database_url, status):
    _, nid = _planned(database_url)
    with session_scope(database_url) as session:
        assert apply_sms_report(session, nid, _report(nid, status)).result == "unknown_status"


def _bundle(url):
    """A claimed lead and one member bundled with it, each for its own alert: (lead, member)."""
    _, lead = _planned(url)
    with session_scope(url) as session:
        other = accept_alert(session, _alert(summary="db down")).alert_id
        member = plan_notification(
            session, alert_id=other, channel="sms", destination="+14155550101", text="y"
        )
        move(session, lead, S.SENDING, reason="t")
        move(session, member, S.SENDING, reason="t", bundle_lead_id=lead)
    return lead, member


def _reasons(session, notification_id, kind):
    return [
        e.detail["reason"]
        for e in session.scalars(
            select(Event).where(Event.notification_id == notification_id, Event.kind == kind)
        )
    ]


def test_a_report_on_a_bundle_lead_moves_its_members_with_the_error_code(database_url):
    lead, member = _bundle(database_url)
    with session_scope(database_url) as session:
        outcome = apply_sms_report(
            session, lead, _report(lead, "Undelivered", uuid="uuid-b", ErrorCode="30")
        )
    assert (outcome.result, outcome.state) == ("applied", "undelivered")
    with session_scope(database_url) as session:
        lead_row, member_row = session.get(Notification, lead), session.get(Notification, member)
        assert (lead_row.state, lead_row.error_code, lead_row.provider_uuid) == (
            "undelivered",
            "30",
            "uuid-b",
        )
        # Plivo's uuid names the lead's message only; the members share its fate.
        assert (member_row.state, member_row.error_code, member_row.provider_uuid) == (
            "undelivered",
            "30",
            None,
        )
        assert _reasons(session, lead, "notification.undelivered") == ["plivo status undelivered"]
        assert _reasons(session, member, "notification.undelivered") == [
            "bundle: plivo status Undelivered"
        ]


def test_a_stale_report_on_a_bundle_lead_leaves_its_members_alone(database_url):
    lead, member = _bundle(database_url)
    with session_scope(database_url) as session:
        move(session, lead, S.DELIVERED, reason="t")
        outcome = apply_sms_report(session, lead, _report(lead, "failed", ErrorCode="30"))
    assert (outcome.result, outcome.state) == ("stale", "delivered")
    with session_scope(database_url) as session:
        member_row = session.get(Notification, member)
        assert (member_row.state, member_row.error_code) == ("sending", None)
