"""Plivo XML as the simulated phone call reads it.

Only the structure matters here (verbs, their attributes, spoken text); a
document Plivo would refuse (not XML, wrong root) is an error the call records,
so the application's XML is checked by every simulated call.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass


class VoiceXmlError(ValueError):
    """Not a Plivo XML document."""


@dataclass(frozen=True)
class Verb:
    """One element: `<Speak>`, `<GetInput>` (with its nested prompts), `<Redirect>`..."""

    name: str
    attrs: dict[str, str]
    text: str
    children: tuple[Verb, ...] = ()

    def attr(self, name: str, default: str = "") -> str:
        return self.attrs.get(name, default)


def _verb(element: ET.Element) -> Verb:
    return Verb(
        name=element.tag,
        attrs=dict(element.attrib),
        text=(element.text or "").strip(),
        children=tuple(_verb(child) for child in element),
    )


def parse_response(document: str) -> list[Verb]:
    """The verbs of a `<Response>` document, in order."""
    try:
        root = ET.fromstring(document.strip())
    except ET.ParseError as exc:
        raise VoiceXmlError(f"not XML: {exc}") from None
    if root.tag != "Response":
        raise VoiceXmlError(f"root element is <{root.tag}>, not <Response>")
    return [_verb(child) for child in root]
