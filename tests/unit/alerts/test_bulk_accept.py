"""A body of triggers stored together keeps every rule of storing them one by one:
an open alert's key adds an occurrence, new alerts get their accepted event, the
answer lists each event in the order sent, and a body that is not plain (a key twice,
a resolve) is applied event by event. Real SQLite, and PostgreSQL when configured."""

from __future__ import annotations

from sqlalchemy import func, select

from shared.alerts.bulk_accept import takes_bulk_path
from shared.alerts.ingest import ingest, ingest_all
from shared.alerts.schemas import AlertAction, AlertIn
from shared.core.db import session_scope
from shared.core.models import Alert, Event


def trigger(key: str | None, summary: str = "disk full") -> AlertIn:
    return AlertIn(summary=summary, dedup_key=key, severity="critical", source="alertmanager")


def test_only_plain_bodies_take_the_bulk_path() -> None:
    assert takes_bulk_path([trigger("a"), trigger("b"), trigger(None), trigger(None)])
    assert not takes_bulk_path([trigger("a")])  # one event: nothing to gather
    assert not takes_bulk_path([trigger("a"), trigger("a")])
    resolve = AlertIn(summary="ok", dedup_key="a", action=AlertAction.RESOLVE)
    assert not takes_bulk_path([trigger("b"), resolve])


def test_a_body_of_triggers_is_stored_in_order_with_its_events(database_url: str) -> None:
    with session_scope(database_url) as session:
        [before] = ingest_all(session, [trigger("open-one")], via="alertmanager", integration="am")
    body = [trigger(f"k{i}", summary=f"alert {i}") for i in range(120)]
    body.insert(7, trigger("open-one"))
    with session_scope(database_url) as session:
        results = ingest_all(session, body, via="alertmanager", integration="am")

    assert [r.outcome for r in results] == ["created"] * 7 + ["deduplicated"] + ["created"] * 113
    assert results[7].alert_id == before.alert_id
    with session_scope(database_url) as session:
        stored = dict(session.execute(select(Alert.id, Alert.summary)).all())
        open_one = session.get(Alert, before.alert_id)
        accepted_events = session.scalar(select(func.count()).where(Event.kind == "alert.accepted"))
        occurrences = session.scalar(select(func.count()).where(Event.kind == "alert.occurrence"))
        assert open_one is not None and open_one.occurrences == 2
        assert open_one.integration == "am"
    for result, event in zip(results, body, strict=True):
        assert stored[result.alert_id] == event.summary
    assert accepted_events == 121 and occurrences == 1


def test_a_key_open_in_another_scope_is_a_new_alert(database_url: str) -> None:
    with session_scope(database_url) as session:
        [other] = ingest_all(session, [trigger("shared-key")], via="api", integration="api")
    with session_scope(database_url) as session:
        results = ingest_all(
            session, [trigger("shared-key"), trigger("x")], via="alertmanager", integration="am"
        )
    assert [r.outcome for r in results] == ["created", "created"]
    assert results[0].alert_id != other.alert_id


def test_a_body_that_repeats_a_key_is_applied_event_by_event(database_url: str) -> None:
    with session_scope(database_url) as session:
        results = ingest_all(
            session,
            [trigger("same"), trigger("same"), trigger("other")],
            via="alertmanager",
            integration="am",
        )
    assert [r.outcome for r in results] == ["created", "deduplicated", "created"]
    assert results[0].alert_id == results[1].alert_id


def test_one_by_one_and_together_store_the_same_alert(database_url: str) -> None:
    """The stored row and its event are the same whichever path took them (on PostgreSQL
    a body's alerts and events go in as one JSON document: a list-valued JSON column
    stays a list, a nested one stays nested, a NUL in a detail is kept as on its own,
    a missing key stays NULL)."""
    columns = (
        *("summary", "severity", "source", "integration", "details", "labels", "recipients"),
        *("status", "esc_step", "esc_round", "escalation", "dispatched_at", "policy"),
    )
    alone = AlertIn(
        summary="cpu hot",
        dedup_key="solo",
        severity="warning",
        source="alertmanager",
        labels={"team": "db"},
        details={"value": 97, "nested": {"list": [1, "two"]}, "raw": "nul \x00 kept", "n": None},
        recipients=["+14155550100", "+14155550101"],
    )
    together = alone.model_copy(update={"dedup_key": "pair"})
    with session_scope(database_url) as session:
        one = ingest(session, alone, via="alertmanager", integration="am")
        [two, third] = ingest_all(
            session, [together, trigger(None, summary="z")], via="alertmanager", integration="am"
        )
    with session_scope(database_url) as session:
        a, b = session.get(Alert, one.alert_id), session.get(Alert, two.alert_id)
        assert a is not None and b is not None
        assert [getattr(a, c) for c in columns] == [getattr(b, c) for c in columns]
        assert a.occurrences == b.occurrences == 1
        assert a.created_at.tzinfo is not None and b.created_at.tzinfo is not None
        assert a.dedup_key == "solo" and b.dedup_key == "pair"
        c = session.get(Alert, third.alert_id)  # posted without a dedup key
        assert c is not None and c.dedup_key is None and c.summary == "z"
        first_events = [
            session.execute(
                select(Event.kind, Event.detail, Event.notification_id, Event.dedup_key).where(
                    Event.alert_id == alert_id
                )
            ).all()
            for alert_id in (one.alert_id, two.alert_id)
        ]
        assert first_events[0] == first_events[1]
        assert first_events[0][0].kind == "alert.accepted"


def test_keys_with_quotes_backslashes_and_braces_find_their_open_alerts(database_url: str) -> None:
    """The keys of a body travel to PostgreSQL as one array's text (shared.core.many_values):
    every key that is open is found, whatever characters it holds, and no other."""
    odd = ['say "hi"', "back\\slash", "{braces,comma}", "NULL", " spaced ", "ünï", 'a\\"b']
    with session_scope(database_url) as session:
        opened = ingest_all(
            session, [trigger(k) for k in odd], via="alertmanager", integration="am"
        )
    body = [trigger(k) for k in odd] + [trigger("new"), trigger("Null")]
    with session_scope(database_url) as session:
        results = ingest_all(session, body, via="alertmanager", integration="am")
    assert [r.outcome for r in results] == ["deduplicated"] * len(odd) + ["created"] * 2
    assert [r.alert_id for r in results[: len(odd)]] == [r.alert_id for r in opened]
