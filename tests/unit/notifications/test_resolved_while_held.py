"""Which resolved alerts a text names, once per number, on a real database."""

from shared.alerts.lifecycle import acknowledge, resolve
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import utcnow
from shared.notifications.planning import plan_notification
from shared.notifications.resolved_while_held import (
    claim_resolved_while_held,
    name_resolved_while_held,
)
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move

DEST = "+14155550171"


def _held(url, summary, channel="sms", destination=DEST):
    """An alert and its pending (held) notification to DEST: (alert id, notification id)."""
    with session_scope(url) as session:
        alert_id = accept_alert(
            session,
            AlertIn.model_validate(
                {"summary": summary, "severity": "warning", "recipients": [destination]}
            ),
        ).alert_id
        notification = plan_notification(
            session, alert_id=alert_id, channel=channel, destination=destination, text=""
        )
        return alert_id, notification


def _lead(url, summary="api down"):
    """A text for a still-open alert, claimed and about to leave: its notification id."""
    _, lead = _held(url, summary)
    with session_scope(url) as session:
        move(session, lead, S.SENDING, reason="send attempt")
    return lead


def _resolve(url, alert_id):
    with session_scope(url) as session:
        resolve(session, alert_id, by="test", via="api")


def _name(url, lead, text="[CRITICAL] api down (alert #1, api) Reply 1A to acknowledge."):
    with session_scope(url) as session:
        held = claim_resolved_while_held(session, lead, DEST, utcnow())
        return name_resolved_while_held(session, held, text), [a.id for a in held.alerts]


def _left(url, lead):
    with session_scope(url) as session:
        move(session, lead, S.QUEUED, reason="plivo accepted", provider_uuid=f"uuid-{lead}")


def test_a_held_alert_resolved_is_named_once(database_url):
    gone, _ = _held(database_url, "disk full")
    _resolve(database_url, gone)
    first = _lead(database_url)
    text, named = _name(database_url, first)
    assert named == [gone]
    assert text.endswith(f"\nResolved before you were paged: [WARNING] disk full (#{gone}).")
    _left(database_url, first)
    _, again = _name(database_url, _lead(database_url, "api still down"))
    assert again == []


def test_acknowledged_then_resolved_or_paged_before_is_not_named(database_url):
    acked, _ = _held(database_url, "acked first")
    with session_scope(database_url) as session:
        acknowledge(session, acked, by="ops", via="api")
    paged, paged_row = _held(database_url, "already paged")
    with session_scope(database_url) as session:
        move(session, paged_row, S.SENDING, reason="send attempt")
        move(session, paged_row, S.QUEUED, reason="plivo accepted", provider_uuid="uuid-paged")
    # A re-page of the same alert, held when it was resolved: the person knew of it.
    with session_scope(database_url) as session:
        plan_notification(
            session, alert_id=paged, channel="sms", destination=DEST, text="", round=1
        )
    elsewhere, _ = _held(database_url, "someone else", destination="+14155550172")
    voice, _ = _held(database_url, "a held call", channel="voice")
    for alert_id in (acked, paged, elsewhere, voice):
        _resolve(database_url, alert_id)
    _, named = _name(database_url, _lead(database_url))
    assert named == []


def test_a_message_that_never_left_gives_its_alerts_back(database_url):
    gone, _ = _held(database_url, "disk full")
    _resolve(database_url, gone)
    stopped = _lead(database_url)
    assert _name(database_url, stopped)[1] == [gone]
    # Another send to the same number while that one is under way does not name it too.
    assert _name(database_url, _lead(database_url, "second"))[1] == []
    with session_scope(database_url) as session:
        move(session, stopped, S.CANCELLED, reason="alert resolved before the request left")
    assert _name(database_url, _lead(database_url, "third"))[1] == [gone]


def test_no_room_keeps_them_for_a_later_text(database_url):
    gone, _ = _held(database_url, "disk full")
    _resolve(database_url, gone)
    full = "x" * 310
    text, named = _name(database_url, _lead(database_url), text=full)
    assert (text, named) == (full, [gone])  # claimed, then given back: the text is unchanged
    later, named = _name(database_url, _lead(database_url, "later"))
    assert named == [gone] and f"(#{gone})" in later
