"""What the on-call phone line says, as Plivo XML: short sentences, one key at a time.

An alert is said the way a page says it (shared.notifications.voice_xml: the
severity, service, summary, and the id digit by digit), so a person hears the
same words whether they were called or called in. Long parts (the open-alert
count, an alert) are spoken before the `<GetInput>`, and only the short menu
inside it, so its timeout is a few seconds of silence after the question
rather than the length of the answer.

A prompt is heard at most twice without a key: silence the first time
redirects to the same question, asked again with `try=2` in its key's URL;
silence the second time says goodbye and hangs up, so an unattended phone is
not kept on the line.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from shared.core.enums import AlertStatus
from shared.core.phone import plivo_format
from shared.notifications.voice_xml import (
    LANGUAGE,
    SPOKEN_SUMMARY_MAX,
    VOICE,
    announcement,
    speakable,
    spoken_xml,
)
from shared.phone_line.on_call_now import OnCall

MENU: Final = "Press 1 for the alerts, 2 for who is on call, 3 to be connected to them."
ALERT_MENU: Final = "Press 1 to acknowledge, 2 for the next."
HANDLED_MENU: Final = "Press 2 for the next."
NOT_AN_OPTION: Final = "Sorry, that is not an option."
NO_INPUT: Final = "We did not receive any input. Goodbye."
# What an unknown caller hears: nothing about us, our alerts or our people.
REFUSED: Final = "Sorry, this number cannot take your call."
NO_MORE: Final = "No more open alerts."
NOBODY: Final = "Nobody is on call now."
ONLY_YOU: Final = "You are the only one on call now."
NOBODY_TO_CALL: Final = "Nobody on call takes calls now."
DIAL_ENDED: Final = "The call has ended. Goodbye."
# Seconds: the menu is short, a person who wants it presses at once.
EXECUTION_TIMEOUT_S: Final = 10
DIGIT_END_TIMEOUT_S: Final = 3
# How long the person on call's phone rings before the caller hears DIAL_ENDED.
DIAL_TIMEOUT_S: Final = 30
NAME_MAX: Final = 40
MAX_SCHEDULES_SAID: Final = 5


class SpokenAlert(Protocol):
    """What the line reads of an alert (an `Alert` row)."""

    id: int
    severity: str
    summary: str
    source: str
    labels: Mapping[str, str]
    status: str
    acknowledged_by: str | None


@dataclass(frozen=True)
class Prompt:
    """Where a key goes (`action_url`) and where silence goes: `again_url`, to be asked
    once more; None (the second time) says goodbye."""

    action_url: str
    again_url: str | None


def status_sentence(count: int, unacknowledged: int, most_severe: SpokenAlert | None) -> str:
    """`3 open alerts, 2 not acknowledged. The most severe: Critical alert on db. ...`"""
    if count == 0 or most_severe is None:
        return "No open alerts."
    plural = "s" if count != 1 else ""
    return (
        f"{count} open alert{plural}, {unacknowledged} not acknowledged. "
        f"The most severe: {alert_sentence(most_severe)}"
    )


def alert_sentence(alert: SpokenAlert) -> str:
    """One alert as a page says it, and who acknowledged it when someone did."""
    service = alert.labels.get("service") or alert.source
    said = announcement(alert.id, alert.severity, service, alert.summary)
    if alert.status == AlertStatus.ACKNOWLEDGED:
        said += f" Acknowledged by {_name(alert.acknowledged_by or 'someone')}."
    return said


def ack_sentence(changed: bool, status: str | None) -> str:
    """What pressing 1 on an alert did."""
    if changed:
        return "Acknowledged."
    return f"Already {status}." if status else "This alert no longer exists."


def menu_xml(before: str, prompt: Prompt) -> str:
    """`before` (may be empty), then the main menu."""
    return prompt_xml(before, MENU, prompt)


def alert_xml(before: str, alert: SpokenAlert, prompt: Prompt) -> str:
    """`before` (an acknowledgement, say), the alert, then its keys: 1 and 2 while nobody
    acknowledged it, 2 alone once someone did."""
    keys = ALERT_MENU if alert.status == AlertStatus.TRIGGERED else HANDLED_MENU
    return prompt_xml(_join(before, alert_sentence(alert)), keys, prompt)


def who_sentence(people: Sequence[OnCall]) -> str:
    """`On call for primary: ann. On call for db: bob and cy.`, or `On call now: ann.`"""
    if not people:
        return NOBODY
    groups: dict[str | None, list[str]] = {}
    for entry in people:
        names = groups.setdefault(entry.schedule, [])
        if entry.contact.name not in names:
            names.append(entry.contact.name)
    sentences = [
        f"On call {'for ' + _name(schedule) if schedule else 'now'}: {_names(names)}."
        for schedule, names in list(groups.items())[:MAX_SCHEDULES_SAID]
    ]
    return speakable(" ".join(sentences), SPOKEN_SUMMARY_MAX)


def dial_xml(name: str, e164: str) -> str:
    """Say whom the caller is put through to, then `<Dial>` their number."""
    root = ET.Element("Response")
    _speak(root, f"Connecting you to {_name(name)}.")
    dial = ET.SubElement(root, "Dial", timeout=str(DIAL_TIMEOUT_S))
    number = ET.SubElement(dial, "Number")
    number.text = plivo_format(e164)
    _speak(root, DIAL_ENDED)
    ET.SubElement(root, "Hangup")
    return _xml(root)


def refused_xml() -> str:
    """One neutral sentence, then hang up: an unknown caller learns nothing."""
    return spoken_xml(REFUSED)


def goodbye_xml() -> str:
    return spoken_xml(NO_INPUT)


def prompt_xml(before: str, question: str, prompt: Prompt) -> str:
    """`before` spoken, `question` inside a one-digit GetInput, then what silence does."""
    root = ET.Element("Response")
    if before:
        _speak(root, before)
    get_input = ET.SubElement(
        root,
        "GetInput",
        action=prompt.action_url,
        method="POST",
        inputType="dtmf",
        numDigits="1",
        executionTimeout=str(EXECUTION_TIMEOUT_S),
        digitEndTimeout=str(DIGIT_END_TIMEOUT_S),
        redirect="true",
    )
    _speak(get_input, question)
    if prompt.again_url is not None:
        redirect = ET.SubElement(root, "Redirect", method="POST")
        redirect.text = prompt.again_url
    else:
        _speak(root, NO_INPUT)
        ET.SubElement(root, "Hangup")
    return _xml(root)


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def _name(name: str) -> str:
    return speakable(name, NAME_MAX)


def _names(names: Sequence[str]) -> str:
    said = [_name(name) for name in names]
    return said[0] if len(said) == 1 else f"{', '.join(said[:-1])} and {said[-1]}"


def _speak(parent: ET.Element, text: str) -> None:
    speak = ET.SubElement(parent, "Speak", voice=VOICE, language=LANGUAGE)
    speak.text = speakable(text, 2 * SPOKEN_SUMMARY_MAX)


def _xml(root: ET.Element) -> str:
    return ET.tostring(root, encoding="unicode")
