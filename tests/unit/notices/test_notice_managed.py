"""Notices made by API in a real database: created once per name, picked up by beat's
tick, updated with a correction for the rows already handed off and the new words for the
rest (moved in one guarded step), refused updates writing nothing, cancels audited once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from shared.core.db import session_scope
from shared.core.models import Event, NoticeDelivery, NoticeRecord, NoticeSend, OptOut
from shared.notices import deliveries, managed, store
from shared.notices.definitions import DefinitionError, check_definition
from shared.notices.schedule import first_occurrence, sends_of
from shared.notices.ticking import in_force, plan_tick
from shared.notices.updates import NoticeChange
from shared.routing.oncall_config import parse_config

NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)  # the -24h reminder is due now
SENDERS = ("+14155550000",)
SECOND = timedelta(seconds=1)
NUMBERS = [f"+1415555{2000 + i}" for i in range(10)]
CONFIG = parse_config(
    f"""
contacts:
  alice: {{phone: "+14155550101"}}
policies:
  p:
    steps:
      - {{targets: [alice], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  customers: {{numbers: {NUMBERS!r}}}
notices:
  from-file:
    title: Patching
    window: {{start: "2026-12-09 02:00", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{contacts: [alice]}}
    templates: {{sms: "{{title}} now"}}
"""
)
BODY = {
    "name": "up",
    "title": "DB upgrade",
    "window": {"start": "2026-12-06T02:00", "duration": "2h", "time_zone": "Europe/Paris"},
    "reminders": ["-24h", "start"],
    "audience": {"lists": ["customers"]},
    "templates": {"sms": "{title} until {end}"},
}


def create(url: str) -> None:
    notice = check_definition(BODY, CONFIG, NOW - timedelta(hours=1))
    with session_scope(url) as session:
        managed.create(session, notice, CONFIG, NOW - timedelta(hours=1), "test")


def start_reminder(url: str) -> str:
    """What beat's tick does at NOW: the API notice is in force and its -24h send starts."""
    with session_scope(url) as session:
        known = store.known_notices(session)
        active = in_force(CONFIG.notices, known)
        first_seen = {name: row.first_seen for name, row in known.items()}
        (planned,) = [
            p
            for p in plan_tick(active, first_seen, set(), NOW + SECOND, timedelta(minutes=15))
            if p.send.notice == "up"
        ]
        started = store.start_send(session, planned.send, active["up"], CONFIG, SENDERS, NOW)
        assert started is not None
        return started.send_id


def hand_off(url: str, send_id: str, count: int) -> list[str]:
    with session_scope(url) as session:
        batch = deliveries.claim_batch(
            session,
            send_id,
            channel="sms",
            sender=None,
            any_sender=True,
            size=count,
            provider="primary",
            now=NOW,
        )
        accepted = {n: f"uuid-{n}" for n in batch.numbers}
        deliveries.record_accepted(session, batch.batch_id, accepted, (), NOW)
    return batch.numbers


def update(url: str, **change: Any) -> managed.Applied:
    with session_scope(url) as session:
        _, applied = managed.update_notice(
            session, "up", NoticeChange.model_validate(change), CONFIG, NOW, "test"
        )
    return applied


def snapshot(url: str) -> tuple[Any, ...]:
    with session_scope(url) as session:
        record = session.get(NoticeRecord, "up")
        sends = session.execute(select(NoticeSend.id, NoticeSend.state, NoticeSend.texts)).all()
        rows = session.execute(
            select(NoticeDelivery.send_id, NoticeDelivery.number, NoticeDelivery.state)
        ).all()
        return (record.definition if record else None, sorted(sends), sorted(rows))


def test_an_api_notice_is_sent_by_beat_like_the_files(database_url: str) -> None:
    create(database_url)
    send_id = start_reminder(database_url)
    assert send_id == "up/20261206T010000Z/-24h"
    with session_scope(database_url) as session:
        count = len(session.scalars(select(NoticeDelivery)).all())
        send = session.get(NoticeSend, send_id)
        assert send is not None and send.texts == {"sms": "DB upgrade until Sun 6 Dec 04:00 CET"}
    assert count == len(NUMBERS)


def test_a_name_is_one_notice_across_the_file_and_the_api(database_url: str) -> None:
    create(database_url)
    with pytest.raises(managed.NoticeConflict, match="exists already"):
        create(database_url)
    taken = check_definition({**BODY, "name": "from-file"}, CONFIG, NOW)
    with (
        session_scope(database_url) as session,
        pytest.raises(managed.NoticeConflict, match="notice of the on-call file"),
    ):
        managed.create(session, taken, CONFIG, NOW, "test")


def test_an_update_corrects_those_handed_off_and_rewords_the_rest(database_url: str) -> None:
    create(database_url)
    send_id = start_reminder(database_url)
    told = hand_off(database_url, send_id, 4)
    with session_scope(database_url) as session:
        session.add(OptOut(destination=told[0]))  # replied STOP since: no correction
    applied = update(database_url, extend="30m")
    assert (applied.corrected, applied.rewritten) == (4, 6)
    correction, rest = "up/20261206T010000Z/update-1", "up/20261206T010000Z/update-1:-24h"
    assert set(applied.new_sends) == {correction, rest}
    with session_scope(database_url) as session:
        rows = session.execute(
            select(NoticeDelivery.send_id, NoticeDelivery.number, NoticeDelivery.state)
        ).all()
        by_send: dict[str, set[str]] = {}
        for row_send, number, _state in rows:
            by_send.setdefault(row_send, set()).add(number)
        texts = {s.id: s.texts for s in session.scalars(select(NoticeSend))}
        states = {s.id: s.state for s in session.scalars(select(NoticeSend))}
        skipped = session.scalar(
            select(NoticeDelivery.state).where(
                NoticeDelivery.send_id == correction, NoticeDelivery.number == told[0]
            )
        )
        events = session.scalars(select(Event.kind).where(Event.kind.like("notice.%"))).all()
    assert by_send[send_id] == set(told) and states[send_id] == "done"
    assert by_send[rest] == set(NUMBERS) - set(told)
    assert by_send[correction] == set(told) and skipped == "skipped"
    assert texts[rest] == {"sms": "DB upgrade until Sun 6 Dec 04:30 CET"}
    assert texts[correction] == {
        "sms": "Update: DB upgrade now ends at Sun 6 Dec 04:30 CET (was Sun 6 Dec 04:00 CET)."
    }
    assert events.count("notice.updated") == 1


def test_a_refused_update_leaves_everything_as_it_was(database_url: str) -> None:
    create(database_url)
    send_id = start_reminder(database_url)
    hand_off(database_url, send_id, 3)
    before = snapshot(database_url)
    for change, field in [
        ({"templates": {"sms": "{title} until {end}, see {link}"}}, "templates.sms"),
        ({"window": {"start": "2026-12-01 02:00"}}, "window.start"),
        ({"title": "ж" * 700}, "templates.sms"),
    ]:
        with pytest.raises(DefinitionError) as refused:
            update(database_url, **change)
        assert refused.value.problems[0].field == field
    assert snapshot(database_url) == before


def test_a_file_notice_is_changed_in_the_file_only(database_url: str) -> None:
    change = NoticeChange(extend=60)
    conflict = pytest.raises(managed.NoticeConflict, match="defined in the on-call file")
    with conflict, session_scope(database_url) as session:
        managed.update_notice(session, "from-file", change, CONFIG, NOW, "test")
    with pytest.raises(LookupError), session_scope(database_url) as session:
        managed.update_notice(session, "nope", change, CONFIG, NOW, "test")


def test_a_moved_window_does_not_repeat_a_reminder_already_sent(database_url: str) -> None:
    create(database_url)
    send_id = start_reminder(database_url)
    hand_off(database_url, send_id, 10)
    applied = update(database_url, window={"start": "2026-12-06 03:00"})
    assert applied.moved_reminders == 1 and applied.corrected == 10
    new = check_definition(
        {**BODY, "window": {**BODY["window"], "start": "2026-12-06T03:00"}}, CONFIG, NOW
    )
    later = sends_of("up", new, first_occurrence(new.window))[0]  # -24h of the new window
    with session_scope(database_url) as session:
        recorded = store.recorded_send_ids(session, ["up"], NOW - timedelta(days=1))
        known = store.known_notices(session)
    active = in_force({}, known)
    first_seen = {name: row.first_seen for name, row in known.items()}
    planned = plan_tick(active, first_seen, recorded, later.due_at + SECOND, timedelta(minutes=15))
    assert later.id in recorded and planned == []


def test_cancel_is_idempotent_and_audited_once_with_who(database_url: str) -> None:
    create(database_url)
    send_id = start_reminder(database_url)
    hand_off(database_url, send_id, 2)
    outcomes = []
    for _ in range(2):
        with session_scope(database_url) as session:
            record = managed.find(session, "up")
            outcomes.append(managed.cancel(session, record, "up", NOW, "ops@example"))
    assert [(o.changed, o.sends, o.skipped) for o in outcomes] == [(True, 1, 8), (False, 0, 0)]
    with session_scope(database_url) as session:
        events = session.scalars(select(Event).where(Event.kind == "notice.cancelled")).all()
        assert [e.detail["by"] for e in events] == ["ops@example"]
        outcome = managed.cancel(session, None, "from-file", NOW, "ops@example")
    assert outcome.changed


def test_people_told_on_whatsapp_get_the_correction_by_sms_once(database_url: str) -> None:
    create(database_url)
    send_id = start_reminder(database_url)
    told = hand_off(database_url, send_id, 2)
    with session_scope(database_url) as session:  # the same numbers, also told on WhatsApp
        session.add_all(
            NoticeDelivery(send_id=send_id, channel="whatsapp", number=number, state="delivered")
            for number in [told[0], "+16285559999"]
        )
    applied = update(database_url, extend="30m")
    assert applied.corrected == 3
    with session_scope(database_url) as session:
        rows = session.execute(
            select(NoticeDelivery.channel, NoticeDelivery.number).where(
                NoticeDelivery.send_id == "up/20261206T010000Z/update-1"
            )
        ).all()
    assert sorted(rows) == sorted(("sms", n) for n in [*told, "+16285559999"])
