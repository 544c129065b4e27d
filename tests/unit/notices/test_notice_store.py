"""Notice sends and deliveries in a real database: created once, claimed once, recorded,
given back only when never sent, cancelled, and moved by delivery reports forward only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.core.db import session_scope
from shared.core.models import Event, NoticeDelivery, NoticeSend, OptOut
from shared.notices import deliveries, reports, store
from shared.notices.progress import delivery_counts
from shared.notices.schedule import first_occurrence, sends_of
from shared.routing.oncall_config import parse_config

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
SENDERS = ("+14155550000", "+14155550001")
ALICE, BOB = "+14155550101", "+14155550102"
SUBSCRIBERS = [f"+1415555{2000 + i}" for i in range(6)]
CONFIG = parse_config(
    f"""
contacts:
  alice: {{phone: "{ALICE}"}}
  bob: {{phone: "{BOB}", channels: [voice]}}
teams:
  db: {{members: [alice, bob]}}
policies:
  p:
    steps:
      - {{targets: [alice], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  customers: {{numbers: {SUBSCRIBERS!r}}}
notices:
  upgrade:
    title: DB upgrade
    window: {{start: "2026-12-06 10:00", duration: 2h, time_zone: UTC}}
    reminders: [-1h, start]
    audience: {{teams: [db], lists: [customers]}}
    templates:
      sms: "{{title}} at {{start}}"
      voice: "Maintenance at {{start}}"
"""
)
NOTICE = CONFIG.notices["upgrade"]
DUE = sends_of("upgrade", NOTICE, first_occurrence(NOTICE.window))[0]  # -1h


def start(url: str, opted_out: tuple[str, ...] = ()) -> store.Started | None:
    with session_scope(url) as session:
        for number in opted_out:
            session.add(OptOut(destination=number))
        session.flush()
        store.remember(session, "upgrade", store.FILE, NOW)
        return store.start_send(session, DUE, NOTICE, CONFIG, SENDERS, NOW)


def rows(url: str, channel: str = "sms") -> dict[str, NoticeDelivery]:
    with session_scope(url) as session:
        query = select(NoticeDelivery).where(NoticeDelivery.channel == channel)
        return {r.number: r for r in session.scalars(query)}


def claim(
    url: str, size: int = 100, sender: str | None = None, channel: str = "sms"
) -> deliveries.Batch:
    with session_scope(url) as session:
        return deliveries.claim_batch(
            session,
            DUE.id,
            channel=channel,
            sender=sender,
            any_sender=sender is None,
            size=size,
            provider="primary",
            now=NOW,
        )


def test_a_send_is_created_once_with_a_row_per_sms_recipient(database_url: str) -> None:
    started = start(database_url, opted_out=(SUBSCRIBERS[0],))
    assert started is not None
    # 6 SMS (bob takes voice only) and 7 calls; the opted-out number gets neither.
    assert (started.pending, started.opted_out) == (13, 2)
    assert started.unsent_channels == ()
    assert set(rows(database_url, "voice")) == {ALICE, BOB, *SUBSCRIBERS}
    assert start(database_url) is None
    found = rows(database_url)
    assert set(found) == {ALICE, *SUBSCRIBERS}
    assert found[ALICE].contact == "alice" and found[SUBSCRIBERS[1]].contact is None
    assert (found[SUBSCRIBERS[0]].state, found[SUBSCRIBERS[0]].skip_reason) == (
        "skipped",
        "opted_out",
    )
    assert {r.sender for r in found.values()} <= set(SENDERS)
    with session_scope(database_url) as session:
        send = session.get(NoticeSend, DUE.id)
        assert send is not None
        assert (send.state, send.texts["sms"]) == ("scheduled", "DB upgrade at Sun 6 Dec 10:00 UTC")


def test_a_missed_send_is_recorded_once(database_url: str) -> None:
    with session_scope(database_url) as session:
        store.remember(session, "upgrade", store.FILE, NOW)
        assert store.record_missed(session, DUE, NOW)
        assert not store.record_missed(session, DUE, NOW)
        assert session.get(NoticeSend, DUE.id).state == "missed"  # type: ignore[union-attr]


def test_each_row_is_claimed_by_one_batch_only(database_url: str) -> None:
    start(database_url)
    first, second, third = claim(database_url, 4), claim(database_url, 4), claim(database_url, 4)
    assert len(first.numbers) == 4 and len(second.numbers) == 3 and third.numbers == []
    assert not set(first.numbers) & set(second.numbers)
    assert first.batch_id != second.batch_id


def test_a_number_that_opted_out_after_the_send_began_is_skipped_at_the_claim(
    database_url: str,
) -> None:
    start(database_url)
    with session_scope(database_url) as session:
        session.add(OptOut(destination=ALICE))
    batch = claim(database_url)
    assert ALICE not in batch.numbers and batch.opted_out == 1
    assert rows(database_url)[ALICE].skip_reason == "opted_out"


def test_plivo_answer_is_recorded_and_only_a_never_sent_batch_is_given_back(
    database_url: str,
) -> None:
    start(database_url)
    batch = claim(database_url, 3)
    accepted = {batch.numbers[0]: "uuid-0", batch.numbers[1]: "uuid-1"}
    with session_scope(database_url) as session:
        deliveries.record_accepted(session, batch.batch_id, accepted, [batch.numbers[2]], NOW)
        assert deliveries.release_batch(session, batch.batch_id, NOW) == 0  # nothing claimed
    found = rows(database_url)
    assert (found[batch.numbers[0]].state, found[batch.numbers[0]].provider_uuid) == (
        "handed_off",
        "uuid-0",
    )
    assert (found[batch.numbers[2]].state, found[batch.numbers[2]].error_code) == (
        "failed",
        "invalid_number",
    )
    retry = claim(database_url, 2)
    with session_scope(database_url) as session:
        assert deliveries.release_batch(session, retry.batch_id, NOW) == 2
    assert all(rows(database_url)[n].state == "pending" for n in retry.numbers)


def test_cancel_skips_what_is_pending_and_nothing_more_is_claimed(database_url: str) -> None:
    start(database_url)
    in_flight = claim(database_url, 2)
    with session_scope(database_url) as session:
        cancelled = store.cancel_notice(session, "upgrade", NOW)
    assert (cancelled.sends, cancelled.skipped) == (1, 5 + 8)  # the SMS and the calls
    assert claim(database_url).numbers == []
    with session_scope(database_url) as session:
        counts = delivery_counts(session, notice="upgrade")
        assert store.known_notices(session)["upgrade"].cancelled
    assert counts[("skipped", "cancelled")] == 5 + 8
    with session_scope(database_url) as session:
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
    assert kinds == ["notice.send_started", "notice.cancelled"]  # the audit log
    assert counts[("claimed", None)] == 2  # its request may be under way: left to its batch
    with session_scope(database_url) as session:
        deliveries.record_accepted(
            session, in_flight.batch_id, {in_flight.numbers[0]: "u"}, (), NOW
        )
        assert not deliveries.finish_if_over(session, DUE.id, NOW)  # cancelled stays cancelled


def report(uuid: str, status: str, to: str, error: str | None = None) -> dict[str, str]:
    params = {"MessageUUID": uuid, "Status": status, "To": to.lstrip("+")}
    return params | ({"ErrorCode": error} if error else {})


def receive_and_apply(url: str, batch_id: str, params: dict[str, str]) -> str:
    """As the receiver does: progress reports are answered without the database."""
    skipped = reports.not_recorded(params)
    if skipped is not None:
        return skipped
    with session_scope(url) as session:
        return reports.receive_report(session, batch_id, params, NOW).outcome


def test_reports_apply_once_forward_only_even_before_plivo_answer_is_recorded(
    database_url: str,
) -> None:
    start(database_url)
    batch = claim(database_url, 2)
    first, second = batch.numbers
    # The delivered report overtakes our record of Plivo's answer: found by number.
    assert receive_and_apply(database_url, batch.batch_id, report("u1", "delivered", first)) == (
        "recorded"
    )
    assert receive_and_apply(database_url, batch.batch_id, report("u1", "delivered", first)) == (
        "duplicate"
    )
    # A late progress report after the final one changes nothing.
    assert receive_and_apply(database_url, batch.batch_id, report("u1", "sent", first)) == (
        "progress"
    )
    with session_scope(database_url) as session:
        deliveries.record_accepted(session, batch.batch_id, {first: "u1", second: "u2"}, (), NOW)
    assert receive_and_apply(database_url, batch.batch_id, report("u2", "queued", second)) == (
        "progress"
    )
    assert receive_and_apply(database_url, batch.batch_id, report("u2", "bogus", second)) == (
        "unknown_status"
    )
    assert receive_and_apply(
        database_url, batch.batch_id, report("u2", "failed", second, "30")
    ) == ("recorded")
    assert receive_and_apply(database_url, batch.batch_id, report("u9", "delivered", "+1999")) == (
        "unknown_message"
    )
    assert receive_and_apply(database_url, "f" * 32, report("u1", "delivered", first)) == (
        "unknown_message"
    )
    found = rows(database_url)
    assert (found[first].state, found[first].provider_uuid) == ("delivered", "u1")
    assert (found[second].state, found[second].error_code) == ("failed", "30")


def test_an_abandoned_batch_is_adopted_where_plivo_has_it_and_given_back_elsewhere(
    database_url: str,
) -> None:
    start(database_url)
    batch = claim(database_url, 3)
    with session_scope(database_url) as session:
        assert deliveries.stale_batches(session, DUE.id, NOW) == []  # claimed at NOW: fresh
        (stale,) = deliveries.stale_batches(session, DUE.id, NOW + timedelta(minutes=1))
        assert stale.numbers == batch.numbers
        given_back = deliveries.adopt(session, stale, {batch.numbers[1]: "u-found"}, NOW)
    assert given_back == 2
    found = rows(database_url)
    assert found[batch.numbers[1]].state == "handed_off"
    assert {found[batch.numbers[0]].state, found[batch.numbers[2]].state} == {"pending"}


def test_a_send_is_done_once_nothing_is_pending_or_claimed(database_url: str) -> None:
    start(database_url)
    for channel in ("sms", "voice"):  # the send is over once every channel is
        while (batch := claim(database_url, 4, channel=channel)).numbers:
            with session_scope(database_url) as session:
                assert not deliveries.finish_if_over(session, DUE.id, NOW)
                accepted = {n: f"u-{channel}-{n}" for n in batch.numbers}
                deliveries.record_accepted(session, batch.batch_id, accepted, (), NOW)
    with session_scope(database_url) as session:
        assert deliveries.finish_if_over(session, DUE.id, NOW)
        assert session.get(NoticeSend, DUE.id).state == "done"  # type: ignore[union-attr]


@pytest.mark.parametrize("name", ["gone"])
def test_recorded_send_ids_are_per_notice(database_url: str, name: str) -> None:
    start(database_url)
    with session_scope(database_url) as session:
        assert store.recorded_send_ids(session, ["upgrade"], NOW - timedelta(days=1)) == {DUE.id}
        assert store.recorded_send_ids(session, [name], NOW - timedelta(days=1)) == set()
