"""What a beat tick does with notices: start due and late sends, mark missed ones, once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.notices.model import Notice
from shared.notices.schedule import Decision
from shared.notices.ticking import (
    LOOKBACK,
    KnownNotice,
    earliest_since,
    in_force,
    plan_tick,
    still_current,
)

GRACE = timedelta(minutes=15)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def notice(
    name: str = "db", reminders: tuple[str, ...] = ("-1h", "start"), **window: Any
) -> Notice:
    return Notice.model_validate(
        {
            "name": name,
            "title": "DB upgrade",
            "templates": {"sms": "{title} {start}"},
            "audience": {"lists": ["customers"]},
            "window": {"start": "2026-12-06 10:00", "duration": "2h", "time_zone": "UTC", **window},
            "reminders": list(reminders),
        }
    )


def test_a_send_due_now_is_started_and_one_not_yet_due_is_not() -> None:
    now = utc(2026, 12, 6, 9, 0, 30)  # 30 s after the -1h reminder; start is an hour away
    planned = plan_tick({"db": notice()}, {"db": utc(2026, 12, 1)}, set(), now, GRACE)
    assert [(p.send.id, p.decision) for p in planned] == [("db/20261206T100000Z/-1h", Decision.DUE)]


def test_a_recorded_send_is_never_planned_again() -> None:
    now = utc(2026, 12, 6, 9, 0, 30)
    planned = plan_tick(
        {"db": notice()}, {"db": utc(2026, 12, 1)}, {"db/20261206T100000Z/-1h"}, now, GRACE
    )
    assert planned == []


def test_late_within_grace_goes_now_and_past_grace_is_missed() -> None:
    now = utc(2026, 12, 6, 10, 10)  # -1h was 70 min ago, start 10 min ago
    planned = plan_tick({"db": notice()}, {"db": utc(2026, 12, 1)}, set(), now, GRACE)
    assert [(p.send.reminder.key, p.decision) for p in planned] == [
        ("-1h", Decision.MISSED),
        ("start", Decision.LATE),
    ]


def test_a_send_due_before_beat_knew_the_notice_is_not_called_missed() -> None:
    now = utc(2026, 12, 6, 10, 10)
    # Added to the file a minute ago: the -1h reminder could never have gone.
    planned = plan_tick({"db": notice()}, {"db": now - timedelta(minutes=1)}, set(), now, GRACE)
    assert [(p.send.reminder.key, p.decision) for p in planned] == [("start", Decision.LATE)]


def test_missed_sends_are_looked_for_back_to_the_lookback_only() -> None:
    now = utc(2026, 12, 20, 9, 30)
    weekly = notice(reminders=("start",), cron="0 10 * * SUN")  # 6, 13, 20 December...
    planned = plan_tick({"db": weekly}, {"db": utc(2025, 1, 1)}, set(), now, GRACE)
    # 6 December is beyond the lookback, 20 December not due yet.
    assert [(p.send.occurrence.key, p.decision) for p in planned] == [
        ("20261213T100000Z", Decision.MISSED)
    ]
    assert earliest_since({"db": utc(2025, 1, 1)}, now, GRACE) == now - LOOKBACK


def test_cancelled_notices_are_out_and_api_notices_are_in() -> None:
    file_notices = {"a": notice("a"), "b": notice("b")}
    stored = notice("c").model_dump(mode="json")
    known = {
        "b": KnownNotice("b", "file", None, utc(2026, 1, 1), cancelled=True),
        "c": KnownNotice("c", "api", stored, utc(2026, 1, 1), cancelled=False),
        "d": KnownNotice("d", "api", stored | {"name": "d"}, utc(2026, 1, 1), cancelled=True),
        "e": KnownNotice("e", "api", {"name": "e"}, utc(2026, 1, 1), cancelled=False),
    }
    active = in_force(file_notices, known)
    assert sorted(active) == ["a", "c"]  # e's stored definition no longer validates
    assert active["c"] == notice("c")


def test_what_was_planned_from_a_notice_changed_meanwhile_is_dropped() -> None:
    now = utc(2026, 12, 6, 9, 0, 30)
    stored = {n: notice(n).model_dump(mode="json") for n in ("a", "b", "c")}
    read = {n: KnownNotice(n, "api", stored[n], utc(2026, 1, 1), False) for n in stored}
    locked = {
        "a": read["a"],  # unchanged
        "b": KnownNotice("b", "api", stored["b"] | {"title": "New"}, utc(2026, 1, 1), False),
        "c": KnownNotice("c", "api", stored["c"], utc(2026, 1, 1), cancelled=True),
    }
    planned = plan_tick(
        {n: notice(n) for n in stored}, dict.fromkeys(stored, utc(2026, 12, 1)), set(), now, GRACE
    )
    kept, changed = still_current(planned, read, locked)
    assert [p.send.notice for p in kept] == ["a"]
    assert changed == ["b", "c"]
