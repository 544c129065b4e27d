"""Plivo XML for alert calls: say the alert, take one key, confirm.

Built with ElementTree rather than string templates: an alert summary is
producer text and may hold `<`, `&` or quotes, and a single unescaped one
would make Plivo reject the answer and the call end in silence. Control
characters, which XML 1.0 cannot carry even escaped, are dropped for the
same reason. Spoken text stays short and the alert id is said digit by
digit, so a sleepy listener can act on it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Final

from shared.alerts.ack_timed_out import AckTimedOut
from shared.alerts.changes import age_text

VOICE: Final = "WOMAN"
LANGUAGE: Final = "en-US"
SPOKEN_SUMMARY_MAX: Final = 200
# Recent changes are context, said after the alert: a sentence, not a list to sit through.
SPOKEN_CHANGES_MAX: Final = 160
# Who acknowledged an alert whose acknowledgement timed out: a name, said quickly.
SPOKEN_BY_MAX: Final = 40
# Longer than any voicemail shared.notifications.voicemail words: only a guard.
VOICEMAIL_MAX: Final = 500

ACK_DIGIT: Final = "1"
ESCALATE_DIGIT: Final = "2"
REPEAT_DIGIT: Final = "9"
BRIDGE_DIGIT: Final = "3"
# The longest a bridge runs (Plivo's `timeLimit`): a call forgotten in it is not billed all day.
BRIDGE_TIME_LIMIT_S: Final = 14400

_MENU = "Press 1 to acknowledge, 2 to escalate, or 9 to repeat."
_BRIDGE_MENU = (
    "Press 1 to acknowledge, 2 to escalate, 3 to join the incident bridge, or 9 to repeat."
)
_BRIDGE_OFFER = "Acknowledged. Thank you. Press 3 to join the incident bridge."
_LEFT_BRIDGE = "You have left the incident bridge. Goodbye."
_NO_INPUT = "We did not receive any input. Goodbye."
_CONFIRMATIONS: Final = {
    ACK_DIGIT: "Acknowledged. Thank you.",
    ESCALATE_DIGIT: "Escalating to the next person.",
}
_NOT_AN_OPTION = "Sorry, that is not an option."
# Characters XML 1.0 does not allow at all, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def say_digits(n: int) -> str:
    """427 -> "4 2 7": a text-to-speech voice reads "427" as a quantity."""
    if n < 0:
        raise ValueError(f"alert ids are not negative, got {n}")
    return " ".join(str(n))


def alert_call_xml(
    alert_id: int,
    severity: str,
    service: str,
    summary: str,
    action_url: str,
    changes: Sequence[str] | None = None,
    ack_timed_out: AckTimedOut | None = None,
    bridge: bool = False,
) -> str:
    """The answer to a call's answer_url: the alert, then a one-key menu.

    Pressing a key posts `Digits` to `action_url`; with no key the call says
    goodbye and ends, so an unattended phone is not kept on the line.
    `changes`: recent changes to the service, worded by
    `shared.alerts.changes.change_notes(..., spoken=True)`, said after the alert.
    `ack_timed_out` (shared.alerts.ack_timed_out): the call is made because an
    acknowledgement timed out, and says so first. `bridge`: the menu also offers
    BRIDGE_DIGIT, joining the alert's incident bridge (`bridge_xml`).
    """
    text = _with_changes(announcement(alert_id, severity, service, summary), changes)
    if ack_timed_out is not None:
        text = f"{ack_timeout_sentence(ack_timed_out)} {text}"
    return _menu_call(f"{text} {_BRIDGE_MENU if bridge else _MENU}", action_url)


def ack_timeout_sentence(timed_out: AckTimedOut) -> str:
    """`Acknowledgement timed out: acknowledged 30 minutes ago by alice, not resolved.`"""
    age = age_text(timed_out.seconds_ago, spoken=True)
    by = speakable(timed_out.by, SPOKEN_BY_MAX)
    return f"Acknowledgement timed out: acknowledged {age} by {by}, not resolved."


def changes_sentence(changes: Sequence[str] | None) -> str:
    """`Recent change: deployed api v2.3 4 minutes ago.`, or nothing when there is none."""
    if not changes:
        return ""
    label = "Recent change" if len(changes) == 1 else "Recent changes"
    spoken = speakable(f"{label}: {'; '.join(changes)}", SPOKEN_CHANGES_MAX).rstrip(" .,;:-")
    return f"{spoken}."


def _with_changes(announcement: str, changes: Sequence[str] | None) -> str:
    sentence = changes_sentence(changes)
    return f"{announcement} {sentence}" if sentence else announcement


def _menu_call(text: str, action_url: str) -> str:
    """`text` spoken inside a one-digit GetInput, then goodbye if no key comes."""
    root = ET.Element("Response")
    get_input = _get_input(root, action_url)
    _speak(get_input, text)
    _speak(root, _NO_INPUT)
    return _xml(root)


def _get_input(root: ET.Element, action_url: str) -> ET.Element:
    """A one-digit GetInput posting the key to `action_url`."""
    return ET.SubElement(
        root,
        "GetInput",
        action=action_url,
        method="POST",
        inputType="dtmf",
        numDigits="1",
        executionTimeout="15",
        digitEndTimeout="5",
        redirect="true",
    )


def keypress_response_xml(digit: str, repeat_url: str, bridge_url: str | None = None) -> str:
    """The answer to the GetInput action: confirm 1 or 2, replay on 9 or a wrong key.

    Recording the acknowledgement or escalation is the caller's job; this
    only says what the person hears. No digit (a timeout) ends the call
    rather than replaying forever. `bridge_url` (the keypress URL of a call
    offering the incident bridge): 1 is confirmed with the offer of 3 there.
    """
    pressed = (digit or "").strip()
    root = ET.Element("Response")
    if pressed == ACK_DIGIT and bridge_url:
        get_input = _get_input(root, bridge_url)
        _speak(get_input, _BRIDGE_OFFER)
        _speak(root, "Goodbye.")
        ET.SubElement(root, "Hangup")
    elif pressed in _CONFIRMATIONS:
        _speak(root, _CONFIRMATIONS[pressed])
        ET.SubElement(root, "Hangup")
    elif not pressed:
        _speak(root, _NO_INPUT)
        ET.SubElement(root, "Hangup")
    else:
        if pressed != REPEAT_DIGIT:
            _speak(root, _NOT_AN_OPTION)
        redirect = ET.SubElement(root, "Redirect", method="POST")
        redirect.text = repeat_url
    return _xml(root)


def bridge_xml(
    alert_id: int, conference: str, who: str | None, callback_url: str, *, record: bool
) -> str:
    """Put the call in the alert's incident bridge, a Plivo `<Conference>` named
    `conference`: the person hears whose bridge it is, under which name they join
    (`who`, a contact name; None says none) and whether it is recorded; the others
    hear a beep. Plivo posts the member's entry and exit (and the recording) to
    `callback_url`. When the person leaves, or the bridge ends, the call ends.
    """
    root = ET.Element("Response")
    as_who = f" as {speakable(who, SPOKEN_BY_MAX)}" if who else ""
    recorded = " This bridge is recorded." if record else ""
    _speak(root, f"Joining the incident bridge for alert {say_digits(alert_id)}{as_who}.{recorded}")
    attributes = {
        "callbackUrl": callback_url,
        "callbackMethod": "POST",
        "enterSound": "beep:1",
        "exitSound": "beep:2",
        "startConferenceOnEnter": "true",
        "endConferenceOnExit": "false",
        "timeLimit": str(BRIDGE_TIME_LIMIT_S),
    }
    if record:
        attributes |= {"record": "true", "recordFileFormat": "mp3"}
    room = ET.SubElement(root, "Conference", attributes)
    room.text = conference
    _speak(root, _LEFT_BRIDGE)
    ET.SubElement(root, "Hangup")
    return _xml(root)


def voicemail_xml(words: str) -> str:
    """What an answering machine records (worded by shared.notifications.voicemail),
    then hang up. No menu: nobody can press a key on a recording."""
    root = ET.Element("Response")
    _speak(root, speakable(words, VOICEMAIL_MAX))
    ET.SubElement(root, "Hangup")
    return _xml(root)


def hangup_xml() -> str:
    """End the call saying nothing (a voicemail already left on it)."""
    root = ET.Element("Response")
    ET.SubElement(root, "Hangup")
    return _xml(root)


def announcement(alert_id: int, severity: str, service: str, summary: str) -> str:
    level = speakable(severity, 20).capitalize() or "New"
    place = speakable(service, 60)
    where = f" on {place}" if place else ""
    parts = (f"{level} alert{where}.", _sentence(summary), f"Alert {say_digits(alert_id)}.")
    return " ".join(part for part in parts if part)


def _sentence(text: str) -> str:
    """The summary, short and ending in a full stop, so the voice pauses before the id."""
    spoken = speakable(text, SPOKEN_SUMMARY_MAX).rstrip(" .,;:-")
    return f"{spoken}." if spoken else ""


def speakable(text: str, limit: int) -> str:
    """`text` on one line, without characters XML cannot hold, cut at a word within `limit`."""
    clean = " ".join(_NOT_XML.sub(" ", text or "").split())
    if len(clean) <= limit:
        return clean
    cut = clean[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut


def _speak(parent: ET.Element, text: str) -> ET.Element:
    speak = ET.SubElement(parent, "Speak", voice=VOICE, language=LANGUAGE)
    speak.text = text
    return speak


def _xml(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")


def spoken_xml(text: str) -> str:
    """A call that only needs to be told something (an alert already acknowledged,
    one that no longer exists) and then ended."""
    root = ET.Element("Response")
    _speak(root, speakable(text, SPOKEN_SUMMARY_MAX))
    ET.SubElement(root, "Hangup")
    return _xml(root)


def bundle_call_xml(
    count: int, alert_id: int, severity: str, service: str, summary: str, action_url: str
) -> str:
    """A call for several alerts: how many, then the most severe one, then the menu.

    Pressing 1 acknowledges them all; reading every alert would keep a person
    on the line for minutes in a storm.
    """
    most_severe = announcement(alert_id, severity, service, summary)
    return _menu_call(
        f"{count} alerts are firing. The most severe: {most_severe} "
        "Press 1 to acknowledge all of them, 2 to escalate, or 9 to repeat.",
        action_url,
    )
