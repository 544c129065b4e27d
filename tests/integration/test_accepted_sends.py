"""A text Plivo accepted is recorded by the report inbox's drainer, in its batch.

The worker that sent the text pushes the record and takes its next alert; the
drainer (run in this process, as in test_sms_delivery_reports) moves the text
to queued with Plivo's uuid and observes the alert's first page, once, in
whatever order the record and the text's own reports arrive.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from shared.core.db import session_scope
from shared.core.models import Notification
from shared.notifications import report_inbox
from shared.notifications.accepted_sends import AcceptedSend, accepted_entry
from tests.integration.test_security_callbacks import events_of_kind, moves, page
from tests.integration.test_sms_delivery_reports import inbox, post_report, report, sms_member

ACCEPTED_AT = datetime(2026, 12, 3, 9, 0, 0, 250_000, tzinfo=UTC)


def accepted(nid: int, uuid: str) -> str:
    return accepted_entry(AcceptedSend(nid, uuid, {"message_uuid": uuid}, ACCEPTED_AT))


def provider_uuid(url: str, nid: int) -> str | None:
    with session_scope(url) as session:
        return session.get(Notification, nid).provider_uuid


def first_page_after_s(url: str) -> list[float]:
    from sqlalchemy import select

    from shared.core.models import Event

    with session_scope(url) as session:
        return [
            e.detail["after_s"]
            for e in session.scalars(select(Event).where(Event.kind == "alert.first_page"))
        ]


def test_an_accepted_text_and_its_bundle_are_queued_by_the_drainer(
    redis_client, database_url, drain
) -> None:
    _alert, lead, _ = page(database_url, state="sending", provider_uuid=None)
    member = sms_member(database_url, lead, provider_state="sending")
    report_inbox.push(redis_client, accepted(lead, "msg-accepted"))

    assert drain() == 1
    assert moves(database_url, lead)[0] == "queued"
    assert moves(database_url, member)[0] == "queued"
    assert provider_uuid(database_url, lead) == "msg-accepted"
    assert len(first_page_after_s(database_url)) == 2  # the lead's alert and the member's
    assert inbox(redis_client) == []
    # Not a delivery report: nothing counted as one, nothing handed over.
    assert events_of_kind(database_url, "callback.sms_status") == 0


def test_applied_twice_it_moves_and_observes_once(redis_client, database_url, drain) -> None:
    _alert, lead, _ = page(database_url, state="sending", provider_uuid=None)
    # A drainer killed after its commit and before its trim: the next applies it again.
    report_inbox.push(redis_client, accepted(lead, "msg-twice"))
    report_inbox.push(redis_client, accepted(lead, "msg-twice"))

    assert drain() == 2
    state, _error, _outcome, reasons = moves(database_url, lead)
    assert (state, reasons.count("plivo accepted")) == ("queued", 1)
    assert len(first_page_after_s(database_url)) == 1


def test_a_report_that_overtook_the_record_is_not_undone(
    receiver, redis_client, database_url, drain
) -> None:
    _alert, lead, _ = page(database_url, state="sending", provider_uuid=None)
    # Plivo's "delivered" reached the receiver before the worker's push.
    assert post_report(receiver, lead, report("msg-fast", "delivered")) == (200, "ok\n")
    report_inbox.push(redis_client, accepted(lead, "msg-fast"))

    assert drain() == 2
    assert moves(database_url, lead)[0] == "delivered"
    assert len(first_page_after_s(database_url)) == 1


def test_a_malformed_record_is_dropped_and_the_rest_applied(
    redis_client, database_url, drain, caplog
) -> None:
    _alert, lead, _ = page(database_url, state="sending", provider_uuid=None)
    report_inbox.push(redis_client, '{"kind":"accepted","notification_id":"7","provider_uuid":"x"}')
    report_inbox.push(redis_client, accepted(lead, "msg-after"))

    with caplog.at_level(logging.ERROR):
        assert drain() == 2
    assert "notification_id is not an id" in caplog.text
    assert moves(database_url, lead)[0] == "queued"


def test_the_first_page_is_timed_from_plivos_answer_not_the_drain(
    redis_client, database_url, drain
) -> None:
    alert_id, lead, _ = page(database_url, state="sending", provider_uuid=None)
    with session_scope(database_url) as session:
        from shared.core.models import Alert

        session.get(Alert, alert_id).created_at = ACCEPTED_AT - timedelta(milliseconds=40)
    report_inbox.push(redis_client, accepted(lead, "msg-timed"))

    drain()
    assert first_page_after_s(database_url) == [0.04]
