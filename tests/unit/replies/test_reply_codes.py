"""SMS reply codes: allocation, parsing of what people actually type, instructions, and the
alerts a reply names in the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.alerts.lifecycle import resolve
from shared.core.db import session_scope
from shared.core.models import Alert
from shared.notifications.planning import plan_notification
from shared.replies.code_store import alerts_for_code, code_for
from shared.replies.codes import (
    CODE_REUSE_AFTER,
    Reply,
    allocate_code,
    codes_to_avoid,
    parse_reply,
    resolve_code,
    sms_instructions,
)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("open_codes", "code"),
    [(set(), 1), ({1}, 2), ({1, 2, 3}, 4), ({2, 3}, 1), ({1, 3}, 2), ({1, 2, 5}, 3)],
)
def test_allocate_smallest_free_code(open_codes: set[int], code: int) -> None:
    assert allocate_code(open_codes) == code


def test_a_code_retired_within_a_day_is_avoided_then_free_again() -> None:
    retired = [
        (1, NOW - timedelta(hours=1)),
        (2, NOW - CODE_REUSE_AFTER + timedelta(seconds=1)),
        (3, NOW - CODE_REUSE_AFTER),
        (4, None),  # retired before retirement times were kept
    ]
    avoid = codes_to_avoid([5], retired, NOW)
    assert avoid == {1, 2, 5}
    assert allocate_code(avoid) == 3


def test_a_late_reply_code_is_never_the_next_alerts_code() -> None:
    """Alert acknowledged with 1A at noon; the next page that day must not be code 1."""
    retired_at_noon = [(1, NOW)]
    assert allocate_code(codes_to_avoid([], retired_at_noon, NOW + timedelta(hours=5))) == 2
    assert allocate_code(codes_to_avoid([], retired_at_noon, NOW + timedelta(days=2))) == 1


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("4A", Reply("ack", 4)),
        ("4a", Reply("ack", 4)),
        (" 4 A ", Reply("ack", 4)),
        ("4\tA\n", Reply("ack", 4)),
        ("12e", Reply("escalate", 12)),
        ("7 E", Reply("escalate", 7)),
        ("04a", Reply("ack", 4)),
        ("4a.", Reply("ack", 4)),
        ("4A!", Reply("ack", 4)),
        ("a", Reply("ack")),
        ("Ack", Reply("ack")),
        (" ACK ", Reply("ack")),
    ],
)
def test_codes_and_bare_ack(text: str, reply: Reply) -> None:
    assert parse_reply(text) == reply


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("STOP", "stop"),
        ("stop", "stop"),
        (" Stop. ", "stop"),
        ("STOPALL", "stop"),
        ("unsubscribe", "stop"),
        ("CANCEL", "stop"),
        ("end", "stop"),
        ("Quit", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("yes", "start"),
        ("HELP", "help"),
        ("info", "help"),
    ],
)
def test_carrier_keywords(text: str, action: str) -> None:
    assert parse_reply(text) == Reply(action)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "4",
        "A4",
        "4X",
        "4ack",
        "0A",
        "4 A E",
        "please stop",
        "ok",
        "e",
        "1234567A",
        "4AA",
    ],
)
def test_anything_else_is_not_a_reply(text: str) -> None:
    assert parse_reply(text) is None


def test_resolve_code_with_an_explicit_code() -> None:
    assert resolve_code(Reply("ack", 4), {1, 4}) == 4
    assert resolve_code(Reply("ack", 5), {1, 4}) is None


def test_bare_ack_means_the_only_open_alert() -> None:
    assert resolve_code(Reply("ack"), {3}) == 3
    assert resolve_code(Reply("ack"), {1, 3}) is None
    assert resolve_code(Reply("ack"), set()) is None


def test_instructions() -> None:
    assert sms_instructions(4) == "Reply 4A to acknowledge, 4E to escalate."
    with pytest.raises(ValueError):
        sms_instructions(0)


def test_instructions_round_trip_through_the_parser() -> None:
    code = allocate_code({1, 2})
    text = sms_instructions(code)
    ack, escalate = text.split()[1], text.split()[4]
    assert parse_reply(ack) == Reply("ack", code)
    assert parse_reply(escalate) == Reply("escalate", code)


PERSON = "+14155550901"
OTHER_PERSON = "+14155550902"


def _open_alerts(session, count: int) -> list[int]:
    alerts = [Alert(summary=f"alert {i}", severity="critical", source="test") for i in range(count)]
    session.add_all(alerts)
    session.flush()
    return [alert.id for alert in alerts]


def test_a_reply_names_the_alerts_of_its_code(database_url: str) -> None:
    with session_scope(database_url) as session:
        first, second, third = _open_alerts(session, 3)
        single = code_for(session, [first], PERSON)
        bundled = code_for(session, [second, third], PERSON)
        code_for(session, [first], OTHER_PERSON)
    with session_scope(database_url) as session:
        assert alerts_for_code(session, PERSON, Reply("ack", single)) == [first]
        assert alerts_for_code(session, PERSON, Reply("escalate", bundled)) == [second, third]
        assert alerts_for_code(session, PERSON, Reply("ack", bundled + 1)) == []
        # A code is the person's own: another number's code names nothing for them.
        assert alerts_for_code(session, "+14155550903", Reply("ack", single)) == []


def test_a_bare_ack_names_the_person_s_only_open_code(database_url: str) -> None:
    with session_scope(database_url) as session:
        first, second = _open_alerts(session, 2)
        code_for(session, [first], PERSON)
        code_for(session, [second], PERSON)
        code_for(session, [first], OTHER_PERSON)
    with session_scope(database_url) as session:
        # Two open codes: a bare "A" could silence the wrong page.
        assert alerts_for_code(session, PERSON, Reply("ack")) == []
        assert alerts_for_code(session, OTHER_PERSON, Reply("ack")) == [first]
        resolve(session, first, by="test", via="api")
    with session_scope(database_url) as session:
        # The first code retired with its alert: the second is now the only one.
        assert alerts_for_code(session, PERSON, Reply("ack")) == [second]
        assert alerts_for_code(session, OTHER_PERSON, Reply("ack")) == []


def test_a_code_taken_between_the_read_and_the_insert_is_not_given_twice(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sends to one person at once: the second read the codes before the first's
    insert, so it picks the same number. Its insert does nothing and it reads again."""
    import shared.replies.code_store as code_store

    with session_scope(database_url) as session:
        first, second = _open_alerts(session, 2)
        taken = code_for(session, [first], PERSON)
    read_codes = code_store._person_codes
    reads: list[int] = []

    def stale_then_fresh(session, destination, now):  # type: ignore[no-untyped-def]
        reads.append(1)
        return [] if len(reads) == 1 else read_codes(session, destination, now)

    monkeypatch.setattr(code_store, "_person_codes", stale_then_fresh)
    with session_scope(database_url) as session:
        code = code_for(session, [second], PERSON)
    assert (taken, code, len(reads)) == (1, 2, 2)
    with session_scope(database_url) as session:
        assert alerts_for_code(session, PERSON, Reply("ack", 1)) == [first]
        assert alerts_for_code(session, PERSON, Reply("ack", 2)) == [second]


def _paged(session, alert_id: int, destination: str) -> None:
    plan_notification(
        session, alert_id=alert_id, channel="sms", destination=destination, text="page"
    )


def test_a_bundle_code_answers_until_its_last_alert_closes(database_url: str) -> None:
    """Closing an alert retires only codes of the people paged for it, and a bundle's
    code only once none of its alerts is open; another person's codes stay."""
    with session_scope(database_url) as session:
        first, second, other = _open_alerts(session, 3)
        for alert_id in (first, second):
            _paged(session, alert_id, PERSON)
        _paged(session, other, OTHER_PERSON)
        bundle = code_for(session, [first, second], PERSON)
        others = code_for(session, [other], OTHER_PERSON)
    with session_scope(database_url) as session:
        resolve(session, first, by="test", via="api")
    with session_scope(database_url) as session:
        # The bundle still names its open alert: "1A" must still acknowledge it.
        assert alerts_for_code(session, PERSON, Reply("ack", bundle)) == [first, second]
        resolve(session, second, by="test", via="api")
    with session_scope(database_url) as session:
        assert alerts_for_code(session, PERSON, Reply("ack", bundle)) == []
        assert alerts_for_code(session, OTHER_PERSON, Reply("ack", others)) == [other]


def test_a_person_s_codes_are_read_by_index_whatever_the_codes_ever_made(
    database_url: str,
) -> None:
    """Every page reads its person's codes: the read must not scan every code ever
    made (it did, and a page grew slower with each alert kept)."""
    import shared.replies.code_store as code_store

    with session_scope(database_url) as session:
        connection = session.connection()
        compiled = code_store._PERSON_CODES.compile(dialect=connection.dialect)
        params = {"destination": PERSON, "since": NOW}
        if connection.dialect.name == "sqlite":
            positional = tuple(params[name] for name in compiled.positiontup)
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", positional)
            plan = [row[-1] for row in rows]
        else:
            # An empty table is cheapest to scan: forbid scans to see which index serves.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = list(connection.exec_driver_sql(f"EXPLAIN {compiled}", params).scalars())
        assert any("ix_ack_codes_destination_retired_at" in line for line in plan), plan
        assert not any(line.startswith("SCAN ack_codes") for line in plan), plan
