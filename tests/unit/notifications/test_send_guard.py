"""The last check before a claimed send's request: pure decision, and the moves it needs."""

from shared.alerts.lifecycle import acknowledge
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import Notification
from shared.notifications.guard import may_still_send, stop_reason
from shared.notifications.planning import plan_notification
from shared.notifications.state import NotificationState as S
from shared.notifications.state import sources_for
from shared.notifications.store import move


def test_a_claimed_send_of_a_triggered_alert_may_go():
    assert may_still_send("sending", ["triggered"])


def test_an_acknowledged_or_resolved_alert_stops_a_claimed_send():
    assert not may_still_send("sending", ["acknowledged"])
    assert not may_still_send("sending", ["resolved"])
    assert stop_reason("sending", ["acknowledged"]) == "alert acknowledged before the request left"


def test_a_bundle_goes_while_any_of_its_alerts_is_triggered():
    assert may_still_send("sending", ["acknowledged", "triggered", "resolved"])
    assert not may_still_send("sending", ["acknowledged", "resolved"])
    assert stop_reason("sending", ["resolved", "acknowledged", "acknowledged"]) == (
        "alert acknowledged and resolved before the request left"
    )


def test_a_claim_no_longer_ours_never_sends():
    for state in ("pending", "unknown", "cancelled", "queued", None):
        assert not may_still_send(state, ["triggered"])
    assert "claim lost" in stop_reason("unknown", ["triggered"])
    assert not may_still_send("sending", [])


def test_a_claimed_send_may_be_cancelled_but_claiming_still_needs_pending():
    assert S.SENDING in sources_for(S.CANCELLED)
    assert sources_for(S.SENDING) == {S.PENDING}


def _claimed(url):
    with session_scope(url) as session:
        alert = AlertIn.model_validate(
            {"summary": "disk full", "severity": "critical", "recipients": ["+14155550101"]}
        )
        alert_id = accept_alert(session, alert).alert_id
        nid = plan_notification(
            session, alert_id=alert_id, channel="sms", destination="+14155550101", text="x"
        )
    with session_scope(url) as session:
        assert move(session, nid, S.SENDING, reason="send attempt")
    return alert_id, nid


def test_an_ack_leaves_a_claimed_row_to_its_send(database_url):
    alert_id, nid = _claimed(database_url)
    with session_scope(database_url) as session:
        assert acknowledge(session, alert_id, by="ops", via="api").cancelled == 0
    with session_scope(database_url) as session:
        assert session.get(Notification, nid).state == "sending"


def test_a_cancel_meant_for_a_pending_row_does_not_take_a_claimed_one(database_url):
    _, nid = _claimed(database_url)
    with session_scope(database_url) as session:
        assert not move(session, nid, S.CANCELLED, reason="x", from_state=S.PENDING)
    with session_scope(database_url) as session:
        assert move(session, nid, S.CANCELLED, reason="alert acknowledged", from_state=S.SENDING)
    with session_scope(database_url) as session:
        assert session.get(Notification, nid).state == "cancelled"
