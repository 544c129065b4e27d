"""A bundle is claimed and moved in a fixed number of statements, whatever its size, and
each page in it still moves at most once (shared.notifications.bundle_claim, store.move_many)."""

from __future__ import annotations

from sqlalchemy import select

from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import Event, Notification, utcnow
from shared.notifications.bundle_claim import claim_bundle
from shared.notifications.planning import plan_notification
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move, move_members, release_members
from tests.sql_events import statements_sent

PERSON = "+14155550101"


def _pending_pages(url: str, count: int) -> list[int]:
    """`count` pending SMS pages to one person, each for its own alert, oldest first."""
    ids = []
    with session_scope(url) as session:
        for n in range(count):
            alert = AlertIn.model_validate(
                {"summary": f"disk {n} full", "severity": "critical", "recipients": [PERSON]}
            )
            alert_id = accept_alert(session, alert).alert_id
            ids.append(
                plan_notification(
                    session, alert_id=alert_id, channel="sms", destination=PERSON, text=f"p{n}"
                )
            )
    return ids


def _claim(url: str, lead: int) -> tuple[list[int], int]:
    """Claim `lead`'s bundle: the ids claimed (lead first), and the statements it took."""
    with statements_sent() as statements, session_scope(url) as session:
        bundle = claim_bundle(session, lead, "sms", PERSON, utcnow(), claimed_by="me")
        ids = [n.id for n in bundle]
        taken = len(statements)
    return ids, taken


def test_a_bundle_of_sixty_takes_the_statements_of_a_bundle_of_three(database_url):
    small = _pending_pages(database_url, 3)
    ids, few = _claim(database_url, small[0])
    assert ids == small
    large = _pending_pages(database_url, 60)
    ids, many = _claim(database_url, large[0])
    assert ids == large  # the lead, then its members oldest first
    assert many == few
    with session_scope(database_url) as session:
        rows = session.scalars(select(Notification).where(Notification.id.in_(large))).all()
        assert {(r.state, r.claimed_by, r.send_attempts) for r in rows} == {("sending", "me", 1)}
        assert {r.bundle_lead_id for r in rows if r.id != large[0]} == {large[0]}
        claimed = session.scalars(
            select(Event.notification_id).where(Event.kind == "notification.sending")
        ).all()
        assert sorted(n for n in claimed if n in large) == sorted(large)  # one event each


def test_a_page_another_send_took_first_is_not_in_the_bundle(database_url):
    pages = _pending_pages(database_url, 5)
    with session_scope(database_url) as session:
        assert move(session, pages[2], S.SENDING, reason="its own send")
    ids, _ = _claim(database_url, pages[0])
    assert ids == [pages[0], pages[1], pages[3], pages[4]]
    with session_scope(database_url) as session:
        assert session.get(Notification, pages[2]).bundle_lead_id is None


def test_members_go_back_together_and_follow_a_new_lead_once(database_url):
    pages = _pending_pages(database_url, 4)
    _claim(database_url, pages[0])
    with session_scope(database_url) as session:  # the lead's send failed before Plivo
        release_members(session, pages[0])
    with session_scope(database_url) as session:
        rows = [session.get(Notification, n) for n in pages[1:]]
        assert {(r.state, r.bundle_lead_id) for r in rows} == {("pending", None)}
    ids, _ = _claim(database_url, pages[1])  # the next send leads the rest
    assert ids == pages[1:]
    with session_scope(database_url) as session:
        moved = move_members(session, pages[1], S.SENT, reason="bundle: sent")
    with session_scope(database_url) as session:
        again = move_members(session, pages[1], S.SENT, reason="bundle: sent")
    assert (moved, again) == (pages[2:], [])
