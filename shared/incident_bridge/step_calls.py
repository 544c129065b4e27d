"""Calls of a bridge step (`bridge: true`): answered, they go straight into the bridge.

The person called hears the alert in one sentence and who is already in the
bridge, then joins it through the same `<Conference>` a keypress answers with
(shared.notifications.voice_xml.bridge_xml), so the room, its callbacks and
its recording are the same whichever way someone came in. Pure: the step, the
alert's bridge events and the XML in; the words and the XML out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from typing import Final

from shared.core.models import Event
from shared.incident_bridge.view import bridge_view, in_bridge_now
from shared.notifications.voice_xml import LANGUAGE, SPOKEN_BY_MAX, VOICE, speakable
from shared.routing.oncall_config import Policy

# Names said before joining: a room of more people is summed up, not read out.
NAMES_SAID_MAX: Final = 4


def is_bridge_step(policy: Policy, step: int) -> bool:
    """Whether the step a page belongs to calls its people into the bridge."""
    return 0 <= step < len(policy.steps) and policy.steps[step].bridge


def present(events: Iterable[Event]) -> list[str]:
    """Who is in the alert's bridge now, by the timeline: joined and not yet left."""
    return in_bridge_now(bridge_view(events))


def already_in_sentence(names: Sequence[str]) -> str:
    """`Already in the bridge: alice and bob.`, or that nobody is there yet."""
    if not names:
        return "Nobody else is in the bridge yet."
    said = [speakable(name, SPOKEN_BY_MAX) for name in names[:NAMES_SAID_MAX]]
    more = len(names) - len(said)
    if more:
        said.append(f"{more} more")
    listed = said[0] if len(said) == 1 else f"{', '.join(said[:-1])} and {said[-1]}"
    return f"Already in the bridge: {listed}."


def with_intro(bridge_xml: str, intro: str) -> str:
    """The bridge's XML with `intro` said first: the callee pressed nothing, so they
    hear what the call is about before the room."""
    root = ET.fromstring(bridge_xml)
    speak = ET.Element("Speak", voice=VOICE, language=LANGUAGE)
    speak.text = intro
    root.insert(0, speak)
    return ET.tostring(root, encoding="unicode")
