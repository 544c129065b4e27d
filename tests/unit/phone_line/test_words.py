"""What the phone line says, as Plivo XML a call can follow."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from shared.phone_line.on_call_now import OnCall
from shared.phone_line.words import (
    ALERT_MENU,
    HANDLED_MENU,
    MENU,
    NO_INPUT,
    NOBODY,
    Prompt,
    alert_xml,
    dial_xml,
    menu_xml,
    refused_xml,
    status_sentence,
    who_sentence,
)
from shared.routing.oncall_config import Contact

ACTION = "https://hooks.example.com/plivo/voice/inbound/alert?a=427"


@dataclass
class FakeAlert:
    id: int = 427
    severity: str = "critical"
    summary: str = "disk <full> & slow"
    source: str = "api"
    labels: dict[str, str] = field(default_factory=lambda: {"service": "db"})
    status: str = "triggered"
    acknowledged_by: str | None = None


def verbs(document: str) -> list[ET.Element]:
    root = ET.fromstring(document)
    assert root.tag == "Response"
    return list(root)


def test_the_count_and_the_most_severe_alert_with_its_id_digit_by_digit():
    said = status_sentence(3, 2, FakeAlert())
    assert said == (
        "3 open alerts, 2 not acknowledged. The most severe: "
        "Critical alert on db. disk <full> & slow. Alert 4 2 7."
    )
    assert status_sentence(0, 0, None) == "No open alerts."
    assert status_sentence(1, 0, FakeAlert()).startswith("1 open alert, 0 not acknowledged.")


def test_an_alert_is_said_then_its_keys_asked_and_silence_asks_again():
    speak, get_input, redirect = verbs(alert_xml("", FakeAlert(), Prompt(ACTION, ACTION)))
    assert speak.text == "Critical alert on db. disk <full> & slow. Alert 4 2 7."
    assert get_input.attrib["action"] == ACTION and get_input.attrib["numDigits"] == "1"
    assert [child.text for child in get_input] == [ALERT_MENU]
    assert (redirect.tag, redirect.text) == ("Redirect", ACTION)


def test_an_acknowledged_alert_names_who_and_offers_only_the_next():
    acked = FakeAlert(status="acknowledged", acknowledged_by="ann")
    speak, get_input, *_ = verbs(alert_xml("", acked, Prompt(ACTION, ACTION)))
    assert speak.text.endswith("Alert 4 2 7. Acknowledged by ann.")
    assert [child.text for child in get_input] == [HANDLED_MENU]


def test_the_second_asking_ends_with_goodbye_instead_of_a_redirect():
    *_, goodbye, hangup = verbs(menu_xml("", Prompt(ACTION, None)))
    assert (goodbye.text, hangup.tag) == (NO_INPUT, "Hangup")
    [get_input, *_] = verbs(menu_xml("", Prompt(ACTION, None)))
    assert [child.text for child in get_input] == [MENU]


def test_who_is_on_call_by_schedule():
    ann = Contact(name="ann", phone="+14155550123")
    bob = Contact(name="bob", phone="+14155550124")
    people = [OnCall(ann, "primary"), OnCall(bob, "db"), OnCall(ann, "db")]
    assert who_sentence(people) == "On call for primary: ann. On call for db: bob and ann."
    assert who_sentence([OnCall(bob, None)]) == "On call now: bob."
    assert who_sentence([]) == NOBODY


def test_dial_puts_the_caller_through_to_the_number_as_plivo_writes_it():
    speak, dial, after, hangup = verbs(dial_xml("bob", "+14155550124"))
    assert speak.text == "Connecting you to bob."
    assert dial.tag == "Dial" and [n.text for n in dial.findall("Number")] == ["14155550124"]
    assert hangup.tag == "Hangup"


def test_an_unknown_caller_hears_one_sentence_and_nothing_else():
    speak, hangup = verbs(refused_xml())
    assert hangup.tag == "Hangup" and "alert" not in speak.text.lower()
