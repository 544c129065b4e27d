"""Plivo XML for alert calls, read back with ElementTree as Plivo would parse it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from shared.notifications.voice_xml import (
    SPOKEN_SUMMARY_MAX,
    alert_call_xml,
    hangup_xml,
    keypress_response_xml,
    say_digits,
    voicemail_xml,
)

ACTION = "https://hooks.example.com/plivo/voice/keypress?alert=427&n=9"
REPEAT = "https://hooks.example.com/plivo/voice/answer?alert=427&n=9"


def call(summary: str = "Disk full on db-main", **kwargs: object) -> ET.Element:
    args: dict[str, object] = {
        "alert_id": 427,
        "severity": "critical",
        "service": "db-main",
        "summary": summary,
        "action_url": ACTION,
    }
    args.update(kwargs)
    return ET.fromstring(alert_call_xml(**args))  # type: ignore[arg-type]


def test_call_structure_and_attributes() -> None:
    root = call()
    assert root.tag == "Response"
    assert [child.tag for child in root] == ["GetInput", "Speak"]
    get_input = root[0]
    assert get_input.attrib == {
        "action": ACTION,
        "method": "POST",
        "inputType": "dtmf",
        "numDigits": "1",
        "executionTimeout": "15",
        "digitEndTimeout": "5",
        "redirect": "true",
    }
    (prompt,) = get_input
    assert prompt.tag == "Speak"
    assert prompt.attrib == {"voice": "WOMAN", "language": "en-US"}
    assert root[1].text == "We did not receive any input. Goodbye."


def test_call_says_severity_service_summary_and_id_digit_by_digit() -> None:
    text = call()[0][0].text or ""
    assert text == (
        "Critical alert on db-main. Disk full on db-main. Alert 4 2 7. "
        "Press 1 to acknowledge, 2 to escalate, or 9 to repeat."
    )


def test_call_without_service() -> None:
    text = call(service="", summary="Queue stuck.")[0][0].text or ""
    assert text.startswith("Critical alert. Queue stuck. Alert 4 2 7.")


def test_markup_in_summary_is_escaped_and_read_back_intact() -> None:
    summary = 'p99 > 2s & errors < 5% in "checkout" <script>'
    raw = alert_call_xml(1, "error", "web & api", summary, ACTION)
    assert "<script>" not in raw
    text = ET.fromstring(raw)[0][0].text or ""
    assert f"on web & api. {summary}." in text


def test_url_with_query_string_is_escaped_in_attributes() -> None:
    raw = alert_call_xml(1, "error", "web", "x", ACTION)
    assert "&amp;n=9" in raw
    assert call()[0].get("action") == ACTION


def test_control_characters_are_dropped() -> None:
    raw = alert_call_xml(5, "info", "svc\x00", "line one\nline\x07two\x1b", ACTION)
    text = ET.fromstring(raw)[0][0].text or ""
    assert "Info alert on svc. line one line two. Alert 5." in text


def test_long_summary_is_cut_at_a_word() -> None:
    summary = "word " * 100
    text = call(summary=summary)[0][0].text or ""
    spoken = text.split(". ")[1]
    assert len(spoken) <= SPOKEN_SUMMARY_MAX
    assert spoken.endswith("word")
    assert "Alert 4 2 7." in text


@pytest.mark.parametrize(("n", "spoken"), [(0, "0"), (7, "7"), (427, "4 2 7"), (1000, "1 0 0 0")])
def test_say_digits(n: int, spoken: str) -> None:
    assert say_digits(n) == spoken


def test_say_digits_refuses_negative() -> None:
    with pytest.raises(ValueError):
        say_digits(-1)


@pytest.mark.parametrize(
    ("digit", "spoken"),
    [("1", "Acknowledged. Thank you."), ("2", "Escalating to the next person.")],
)
def test_keypress_confirmations_then_hang_up(digit: str, spoken: str) -> None:
    root = ET.fromstring(keypress_response_xml(digit, REPEAT))
    assert [child.tag for child in root] == ["Speak", "Hangup"]
    assert root[0].text == spoken
    assert root[0].attrib == {"voice": "WOMAN", "language": "en-US"}


def test_nine_redirects_to_repeat() -> None:
    root = ET.fromstring(keypress_response_xml("9", REPEAT))
    assert [child.tag for child in root] == ["Redirect"]
    assert root[0].text == REPEAT
    assert root[0].get("method") == "POST"


@pytest.mark.parametrize("digit", ["3", "0", "*", "#", "12"])
def test_other_keys_apologise_and_repeat(digit: str) -> None:
    root = ET.fromstring(keypress_response_xml(digit, REPEAT))
    assert [child.tag for child in root] == ["Speak", "Redirect"]
    assert root[0].text == "Sorry, that is not an option."
    assert root[1].text == REPEAT


def test_no_digit_ends_the_call_instead_of_looping() -> None:
    root = ET.fromstring(keypress_response_xml("", REPEAT))
    assert [child.tag for child in root] == ["Speak", "Hangup"]


def test_voicemail_is_spoken_then_hangs_up_without_a_menu() -> None:
    root = ET.fromstring(voicemail_xml("Critical alert, disk <full> & more\x07, alert 4 2."))
    assert [child.tag for child in root] == ["Speak", "Hangup"]
    assert root[0].text == "Critical alert, disk <full> & more , alert 4 2."
    assert root.find("GetInput") is None


def test_hangup_xml_says_nothing() -> None:
    root = ET.fromstring(hangup_xml())
    assert [child.tag for child in root] == ["Hangup"]
