"""`bridge: true` on a step: it loads and freezes onto an alert, every mistake in it is
named with its path and line, and what the person called hears before the room."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.models import Event
from shared.incident_bridge.announce import joined_words, others_in_room
from shared.incident_bridge.step_calls import already_in_sentence, present, with_intro
from shared.notifications.voice_xml import bridge_xml
from shared.routing.oncall_config import check_config_text, parse_config
from shared.routing.route import freeze_chain, thaw_chain

CONFIG = textwrap.dedent(
    """\
    contacts:
      alice: {phone: "+14155550101"}
      bob: {phone: "+14155550102", channels: [sms]}
    policies:
      p:
        steps:
          - targets: [alice]
            channels: [voice]
            bridge: true
            wait: 5m
          - {targets: [bob], channels: [sms], wait: 5m}
    default_policy: p
    """
)


def problems(text: str) -> list[str]:
    return [str(problem) for problem in check_config_text(text)]


def test_a_bridge_step_loads_and_freezes_onto_the_alert() -> None:
    config = parse_config(CONFIG)
    assert problems(CONFIG) == []
    assert [step.bridge for step in config.policies["p"].steps] == [True, False]
    snapshot = freeze_chain(config, "p")
    assert snapshot["policy"]["steps"][0]["bridge"] is True
    assert "bridge" not in snapshot["policy"]["steps"][1]  # other steps freeze as before
    assert [step.bridge for step in thaw_chain(snapshot)[1].steps] == [True, False]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "bridge: true",
            'bridge: "yes"',
            'line 9: policies.p.steps[0].bridge: must be true or false, not "yes"',
        ),
        (
            "bridge: true",
            "bridge: 1",
            "line 9: policies.p.steps[0].bridge: must be true or false, not 1",
        ),
        (
            "bridge: true",
            "bridge:",
            "line 9: policies.p.steps[0].bridge: must be true or false, not null",
        ),
        (
            "channels: [voice]",
            "channels: [sms]",
            "line 9: policies.p.steps[0].bridge: a bridge step calls people into the alert's "
            "bridge: add voice to its channels",
        ),
        (
            "- targets: [alice]\n        channels: [voice]",
            "- webhook: {url: 'https://hooks.example.com/x', format: slack}",
            "line 8: policies.p.steps[0].bridge: a bridge step calls its targets into the "
            "alert's bridge: give targets",
        ),
    ],
)
def test_a_bad_bridge_option_is_named_with_its_line(old: str, new: str, expected: str) -> None:
    text = CONFIG.replace(old, new)
    assert text != CONFIG
    assert expected in problems(text)


def test_a_step_with_a_bad_target_is_not_also_blamed_for_its_bridge() -> None:
    text = CONFIG.replace("targets: [alice]", "targets: [nobody]")
    found = problems(text)
    assert any("unknown contact" in p for p in found)
    assert not any(".bridge:" in p for p in found)


def event(kind: str, seconds: int, who: str, member: str, room: str = "u") -> Event:
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC) + timedelta(seconds=seconds)
    detail = {
        "who": who,
        "conference": "alert-7",
        "ConferenceUUID": room,
        "ConferenceMemberID": member,
    }
    return Event(kind=kind, at=at, detail=detail)


def test_present_is_who_joined_and_has_not_left() -> None:
    events = [
        event("bridge.joined", 0, "alice", "1"),
        event("bridge.joined", 5, "bob", "2"),
        event("bridge.left", 9, "alice", "1"),
        event("bridge.joined", 12, "carol", "3"),
    ]
    assert present(events) == ["bob", "carol"]
    assert present([]) == []


def test_who_is_in_the_bridge_is_said_shortly() -> None:
    assert already_in_sentence([]) == "Nobody else is in the bridge yet."
    assert already_in_sentence(["alice"]) == "Already in the bridge: alice."
    assert already_in_sentence(["alice", "bob"]) == "Already in the bridge: alice and bob."
    six = ["a", "b", "c", "d", "e", "f"]
    assert already_in_sentence(six) == "Already in the bridge: a, b, c, d and 2 more."


def test_the_intro_is_said_before_the_room() -> None:
    xml = bridge_xml(7, "alert-7", "alice", "https://example.com/b?n=1", record=True)
    root = ET.fromstring(with_intro(xml, "Critical alert <db> & more."))
    assert [child.tag for child in root] == ["Speak", "Speak", "Conference", "Speak", "Hangup"]
    assert root[0].text == "Critical alert <db> & more."
    assert root[2].text == "alert-7" and root[2].get("record") == "true"


def test_a_join_is_announced_to_the_others_in_that_room_only() -> None:
    events = [
        event("bridge.joined", 0, "old", "1", room="earlier"),  # a room that emptied before
        event("bridge.joined", 10, "alice", "1"),
        event("bridge.left", 11, "carol", "3"),  # her exit came in before her entry
        event("bridge.joined", 12, "carol", "3"),
        event("bridge.joined", 13, "bob", "2"),
    ]
    assert others_in_room(events, "u", "2") == ["1"]
    assert others_in_room(events[:2], "u", "1") == []  # alone: nobody to tell
    assert joined_words("bob") == "bob joined the incident bridge."
