"""Conference callbacks read into timeline reports, and the XML that joins the bridge."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from shared.incident_bridge.reports import (
    BridgeEvent,
    NotReported,
    alert_id_of,
    conference_name,
    read_report,
)
from shared.notifications.voice_xml import bridge_xml, keypress_response_xml

MEMBER = {
    "ConferenceName": "alert-12",
    "ConferenceUUID": "c0ffee",
    "ConferenceMemberID": "3",
    "CallUUID": "call-1",
}


def test_room_names_round_trip_and_nothing_else_names_an_alert() -> None:
    assert alert_id_of(conference_name(12)) == 12
    assert [alert_id_of(n) for n in ("alert-0", "alert-x", "team-12", "alert-12 ")] == [
        None,
        None,
        None,
        12,
    ]


@pytest.mark.parametrize(
    ("params", "event"),
    [
        ({"ConferenceAction": "enter"}, BridgeEvent.JOINED),
        ({"ConferenceAction": "exit"}, BridgeEvent.LEFT),
        ({"Event": "ConferenceEnter"}, BridgeEvent.JOINED),
        ({"Event": "ConferenceExit"}, BridgeEvent.LEFT),
    ],
)
def test_a_member_entering_or_leaving(params: dict[str, str], event: BridgeEvent) -> None:
    report = read_report({**MEMBER, **params})
    assert (report.event, report.alert_id, report.member_id) == (event, 12, "3")
    assert report.detail("alice")["who"] == "alice"
    assert report.dedup_key == f"{event.value}:c0ffee:3"


def test_a_recording_with_its_url_and_length() -> None:
    report = read_report(
        {
            **MEMBER,
            "ConferenceAction": "record",
            "RecordUrl": "https://media.plivo.com/r/1.mp3",
            "RecordingID": "r1",
            "RecordingDurationMs": "61500",
        }
    )
    assert report.event is BridgeEvent.RECORDING and report.duration_s == 62
    assert report.detail("alice") == {
        "conference": "alert-12",
        "ConferenceUUID": "c0ffee",
        "RecordUrl": "https://media.plivo.com/r/1.mp3",
        "RecordingID": "r1",
        "duration_s": 62,
    }
    assert report.dedup_key == "bridge-recording:r1"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({**MEMBER, "ConferenceAction": "digits"}, "ConferenceAction"),
        ({**MEMBER, "ConferenceAction": "enter", "ConferenceName": "war-room"}, "ConferenceName"),
        ({**MEMBER, "ConferenceAction": "enter", "CallUUID": ""}, "CallUUID"),
        (
            {**MEMBER, "ConferenceAction": "record", "RecordUrl": "ftp://x/1", "RecordingID": "r"},
            "RecordUrl",
        ),
        (
            {**MEMBER, "ConferenceAction": "record", "RecordUrl": "https://x/", "RecordingID": "r"},
            "RecordingDuration",
        ),
    ],
)
def test_what_is_not_a_report_names_its_field(params: dict[str, str], field: str) -> None:
    with pytest.raises(NotReported) as refused:
        read_report(params)
    assert refused.value.field == field


def test_the_bridge_xml_names_the_room_the_person_and_the_recording() -> None:
    root = ET.fromstring(bridge_xml(12, "alert-12", "alice", "https://x/b?n=4", record=True))
    assert [child.tag for child in root] == ["Speak", "Conference", "Speak", "Hangup"]
    assert root[0].text == (
        "Joining the incident bridge for alert 1 2 as alice. This bridge is recorded."
    )
    room = root[1]
    assert room.text == "alert-12"
    assert room.attrib["callbackUrl"] == "https://x/b?n=4"
    assert (room.attrib["record"], room.attrib["recordFileFormat"]) == ("true", "mp3")
    plain = ET.fromstring(bridge_xml(12, "alert-12", None, "https://x/b", record=False))
    assert plain[0].text == "Joining the incident bridge for alert 1 2."
    assert "record" not in plain[1].attrib


def test_an_acknowledgement_offers_the_bridge_only_when_asked() -> None:
    offered = ET.fromstring(keypress_response_xml("1", "https://x/a", bridge_url="https://x/in"))
    get_input = offered.find("GetInput")
    assert get_input is not None and get_input.attrib["action"] == "https://x/in"
    assert "Press 3 to join the incident bridge" in (get_input[0].text or "")
    plain = ET.fromstring(keypress_response_xml("1", "https://x/a"))
    assert plain.find("GetInput") is None
