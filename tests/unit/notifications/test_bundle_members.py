"""A batch of reports reads its leads' bundle members once, and a move of a lead forgets."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.core.db import session_scope
from shared.core.models import Notification
from shared.notifications.bundle_members import members_of, remember_members
from shared.notifications.delivery_reports import InboxReport, apply_inbox_entries
from shared.notifications.state import NotificationState as S
from shared.notifications.store import release_members
from tests.sql_events import statements_sent
from tests.unit.notifications.test_stores import _bundle


def test_the_leads_of_a_batch_are_read_together_at_the_first_ask(database_url: str) -> None:
    lead, member = _bundle(database_url)
    with session_scope(database_url) as session:
        remember_members(session, [lead, member])
        with statements_sent() as statements:
            assert members_of(session, lead) == [member]
            assert members_of(session, member) == []  # a lead of nobody: an answer too
    assert len(statements) == 1, statements


def test_a_move_that_changes_a_lead_forgets_what_was_remembered(database_url: str) -> None:
    lead, member = _bundle(database_url)
    with session_scope(database_url) as session:
        remember_members(session, [lead])
        release_members(session, lead)  # the lead's send failed: the member waits alone
        assert members_of(session, lead) == []
    with session_scope(database_url) as session:
        assert session.get(Notification, member).bundle_lead_id is None


def test_a_batch_of_reports_reads_the_members_once_and_moves_them(database_url: str) -> None:
    bundles = [_bundle(database_url) for _ in range(3)]
    at = datetime.now(UTC)
    reports = [
        InboxReport({"MessageUUID": f"uuid-{lead}", "Status": "sent"}, lead, at)
        for lead, _ in bundles
    ]
    with session_scope(database_url) as session, statements_sent() as statements:
        apply_inbox_entries(session, reports)
    member_reads = [s for s in statements if "bundle_lead_id IN" in s or "bundle_lead_id =" in s]
    assert len(member_reads) == 1, member_reads
    with session_scope(database_url) as session:
        for lead, member in bundles:
            assert session.get(Notification, lead).state == S.SENT
            assert session.get(Notification, member).state == S.SENT
