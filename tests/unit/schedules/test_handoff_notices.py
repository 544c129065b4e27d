"""Hand-off notices: who is told, when, and in which words, on a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.notices.segments import is_gsm7, sms_size
from shared.routing.oncall_config import ConfigError, parse_config
from shared.schedules.handoff_notices import DueNotice, due_notices
from shared.schedules.model import Schedule
from shared.schedules.overrides import Override

BERLIN = ZoneInfo("Europe/Berlin")  # 2026: summer time from Sunday Mar 29 02:00

CONTACTS = """\
contacts:
  ann: {phone: "+14155550101"}
  bob: {phone: "+14155550102"}
  fay: {phone: "+14155550103"}
policies:
  p:
    steps:
      - {targets: [ann], channels: [sms], wait: 0}
default_policy: p
"""

SCHEDULES = """\
schedules:
  primary:                       # ann from Mon Mar 2, bob from Mar 9, ann from Mar 16, ...
    time_zone: Europe/Berlin
    handoff_notice: {before: 30m}
    layers:
      - name: weekly
        rotation: {members: [ann, bob], shift: 1w, handoff: "09:00", start: 2026-03-02}
  daily:                         # ann Mar 27 and 28 (one stretch), bob Mar 29 (summer time)
    time_zone: Europe/Berlin
    handoff_notice: {before: 1h}
    layers:
      - name: days
        rotation: {members: [ann, ann, bob], shift: 1d, handoff: "09:00", start: 2026-03-27}
  quiet:
    time_zone: Europe/Berlin
    layers:
      - name: weekly
        rotation: {members: [ann, bob], shift: 1w, handoff: "09:00", start: 2026-03-02}
"""

CONFIG = parse_config(CONTACTS + SCHEDULES)


def schedule(name: str) -> Schedule:
    found = CONFIG.schedule_named(name)
    assert found is not None
    return found


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def told(name: str, now: datetime, overrides: tuple[Override, ...] = ()) -> list[str]:
    return [n.contact for n in due_notices(schedule(name), overrides, now)]


def test_the_lead_time_is_read_like_every_duration_of_the_file() -> None:
    notice = schedule("primary").handoff_notice
    assert notice is not None and notice.before == 30 * 60
    assert schedule("quiet").handoff_notice is None
    with pytest.raises(ConfigError, match="at least 1m"):
        parse_config(CONTACTS + SCHEDULES.replace("{before: 1h}", "{before: 10s}"))
    with pytest.raises(ConfigError, match="not a duration"):
        parse_config(CONTACTS + SCHEDULES.replace("{before: 1h}", "{before: soon}"))


def test_the_person_coming_on_call_is_told_within_the_lead_time_only() -> None:
    assert told("primary", berlin("2026-03-09 08:29")) == []
    assert told("primary", berlin("2026-03-09 08:30")) == ["bob"]
    assert told("primary", berlin("2026-03-09 08:59:59")) == ["bob"]
    assert told("primary", berlin("2026-03-09 09:00")) == []  # the shift has begun
    [notice] = due_notices(schedule("primary"), (), berlin("2026-03-09 08:45"))
    assert notice == DueNotice(
        "primary",
        datetime(2026, 3, 9, 8, 0, tzinfo=UTC),
        "bob",
        "You are on call for primary from Mon 9 Mar 09:00 CET to Mon 16 Mar 09:00.",
    )


def test_a_schedule_without_handoff_notice_tells_nobody() -> None:
    assert told("quiet", berlin("2026-03-09 08:45")) == []


def test_someone_simply_continuing_is_not_told() -> None:
    # ann's second day follows her first: no hand-off, no notice.
    assert told("daily", berlin("2026-03-28 08:30")) == []


def test_the_person_an_override_puts_on_call_is_told_and_the_one_replaced_is_not() -> None:
    fay_for_bob = Override("primary", "fay", berlin("2026-03-09 09:00"), berlin("2026-03-16 09:00"))
    assert told("primary", berlin("2026-03-09 08:45"), (fay_for_bob,)) == ["fay"]
    # An override starting within a shift hands over then: fay is told before it.
    evening = Override("primary", "fay", berlin("2026-03-13 18:00"), berlin("2026-03-14 09:00"))
    assert told("primary", berlin("2026-03-13 17:40"), (evening,)) == ["fay"]
    # bob, back after fay's evening, is told again; he was not on call just before.
    assert told("primary", berlin("2026-03-14 08:40"), (evening,)) == ["bob"]


def test_the_lead_time_follows_the_local_clock_across_the_spring_change() -> None:
    # 09:00 is 08:00 UTC in winter and 07:00 UTC from Sunday Mar 29 on.
    sunday = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert told("daily", datetime(2026, 3, 29, 5, 59, tzinfo=UTC)) == []
    [notice] = due_notices(schedule("daily"), (), datetime(2026, 3, 29, 6, 0, tzinfo=UTC))
    assert (notice.contact, notice.shift_start) == ("bob", sunday)
    assert notice.text.startswith("You are on call for daily from Sun 29 Mar 09:00 CEST to ")
    # A week that begins in winter and ends in summer names both zones.
    [notice] = due_notices(schedule("primary"), (), berlin("2026-03-23 08:45"))
    assert notice.text == (
        "You are on call for primary from Mon 23 Mar 09:00 CET to Mon 30 Mar 09:00 CEST."
    )


def test_the_words_fit_one_gsm7_segment_whatever_the_schedule_is_called() -> None:
    name = "Équipe de garde — réseau & stockage, nuit et week-end (Zürich) ☎"
    renamed = SCHEDULES.replace("  primary:", f'  "{name}":')
    config = parse_config(CONTACTS + renamed)
    found = config.schedule_named(name)
    assert found is not None
    [notice] = due_notices(found, (), berlin("2026-03-23 08:45"))
    assert notice.text.startswith("You are on call for Equipe de garde - reseau - stockage")
    assert is_gsm7(notice.text)
    assert sms_size(notice.text).segments == 1
