"""What an update does to what was sent: a correction for those told, new words for the
rest, reminders of a moved window never repeated, nothing for windows nobody heard of."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.notices.corrections import (
    SendFact,
    plan_update,
    texts_for,
    update_number,
    window_correction,
)
from shared.notices.definitions import check_definition, to_definition
from shared.notices.model import Notice
from shared.notices.schedule import first_occurrence, occurrences, sends_of
from shared.notices.updates import NoticeChange, changed_definition
from shared.routing.oncall_config import parse_config

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)  # after -24h, before the window
CONFIG = parse_config(
    """
contacts:
  alice: {phone: "+14155550101"}
policies:
  p:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
default_policy: p
"""
)
BODY = {
    "name": "up",
    "title": "DB upgrade",
    "window": {"start": "2026-12-06T02:00", "duration": "2h", "time_zone": "Europe/Paris"},
    "reminders": ["-24h", "start"],
    "audience": {"contacts": ["alice"]},
    "templates": {"sms": "{title} {start} to {end}"},
}
OLD = check_definition(BODY, CONFIG, NOW)


def changed(notice: Notice, **change: Any) -> Notice:
    data = changed_definition(notice, NoticeChange.model_validate(change))
    return check_definition(data, CONFIG, NOW)


def sent(notice: Notice, reminder: str, state: str = "done", index: int = 0) -> SendFact:
    """A recorded send of the notice's reminder, with the words it was sent with."""
    occurrence = first_occurrence(notice.window)
    if notice.window.recurring:
        occurrence = occurrences(notice.window, NOW, NOW + timedelta(days=30))[index]
    due = next(d for d in sends_of("up", notice, occurrence) if d.reminder.key == reminder)
    texts = texts_for("up", notice, occurrence, reminder)
    return SendFact(due.id, occurrence.key, reminder, state, due.due_at, texts)


def test_a_longer_window_sends_those_told_a_correction_naming_the_new_end() -> None:
    plan = plan_update("up", OLD, changed(OLD, extend="30m"), [sent(OLD, "-24h")], NOW)
    (family,) = plan.families
    assert family.correction == (
        "Update: DB upgrade now ends at Sun 6 Dec 04:30 CET (was Sun 6 Dec 04:00 CET)."
    )
    assert family.correction_key == "update-1" and family.rest == () and family.moved == ()
    assert family.send_ids == ("up/20261206T010000Z/-24h",)


def test_a_send_still_going_out_gives_its_rest_the_new_words() -> None:
    going = sent(OLD, "-24h", state="sending")
    new = changed(OLD, extend="1h")
    (family,) = plan_update("up", OLD, new, [going], NOW).families
    (rest,) = family.rest
    assert rest.from_send == going.id and rest.reminder_key == "update-1:-24h"
    assert rest.texts == {"sms": "DB upgrade Sun 6 Dec 02:00 CET to Sun 6 Dec 05:00 CET"}


def test_a_moved_window_claims_the_reminders_already_sent_under_its_new_key() -> None:
    new = changed(OLD, window={"start": "2026-12-06 03:00"})
    (family,) = plan_update("up", OLD, new, [sent(OLD, "-24h")], NOW).families
    assert family.correction == (
        "Update: DB upgrade now runs from Sun 6 Dec 03:00 CET to Sun 6 Dec 05:00 CET "
        "(was Sun 6 Dec 02:00 CET to Sun 6 Dec 04:00 CET)."
    )
    assert [due.id for due in family.moved] == ["up/20261206T020000Z/-24h"]


def test_new_words_alone_are_the_correction() -> None:
    new = changed(OLD, templates={"sms": "{title} from {start}, read-only"})
    (family,) = plan_update("up", OLD, new, [sent(OLD, "-24h")], NOW).families
    assert family.correction == "Update: DB upgrade from Sun 6 Dec 02:00 CET, read-only"


def test_nothing_to_correct_when_nobody_was_told_or_nothing_they_heard_changed() -> None:
    new = changed(OLD, extend="30m")
    assert plan_update("up", OLD, new, [], NOW).families == ()
    assert plan_update("up", OLD, new, [sent(OLD, "-24h", state="missed")], NOW).families == ()
    same_words = changed(OLD, impact="read-only")  # the SMS does not use {impact}
    assert plan_update("up", OLD, same_words, [sent(OLD, "-24h")], NOW).families == ()
    after = NOW + timedelta(days=2)  # that maintenance is over
    assert plan_update("up", OLD, new, [sent(OLD, "-24h")], after).families == ()


def test_a_series_is_corrected_window_by_window() -> None:
    body = {**BODY, "window": {**BODY["window"], "cron": "0 2 * * *", "start": "2026-12-01T02:00"}}
    series = check_definition(body, CONFIG, NOW)
    told = [sent(series, "-24h", index=0), sent(series, "-24h", index=1)]
    over = SendFact("up/20261204T010000Z/start", "20261204T010000Z", "start", "done", NOW, {})
    plan = plan_update("up", series, changed(series, extend="15m"), [over, *told], NOW)
    assert [f.send_ids for f in plan.families] == [(told[0].id,), (told[1].id,)]
    assert all(f.correction and "now ends at" in f.correction for f in plan.families)


def test_each_update_gets_a_number_of_its_own() -> None:
    assert update_number([sent(OLD, "-24h")]) == 1
    fact = sent(OLD, "-24h")
    correction = SendFact("up/x/update-2", fact.occurrence_key, "update-2", "done", NOW, {})
    rest = SendFact("up/x/update-3:start", fact.occurrence_key, "update-3:start", "done", NOW, {})
    assert (correction.kind, rest.kind, rest.reminder) == ("correction", "rest", "start")
    assert update_number([fact, correction, rest]) == 4


def test_the_correction_speaks_the_windows_own_time_zone() -> None:
    new = changed(OLD, extend="2h")
    text = window_correction(new, first_occurrence(OLD.window), first_occurrence(new.window))
    assert text.endswith("now ends at Sun 6 Dec 06:00 CET (was Sun 6 Dec 04:00 CET).")
    assert to_definition(new)["window"]["duration"] == 14400
