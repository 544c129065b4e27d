"""Telling the people in a bridge who just joined it.

The one joining hears whose bridge it is and who is there (their XML says
so); those already in hear "bob joined the incident bridge." through Plivo's
Conference Member Speak API (`POST /Conference/{name}/Member/{ids}/Speak/`),
said to them only, so the newcomer does not hear their own name. Who is in
the room is read from the alert's timeline: members of that conference (by
ConferenceUUID) who joined and have not left.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import quote

from shared.core.models import Event
from shared.incident_bridge.reports import BridgeEvent
from shared.notifications.voice_xml import LANGUAGE, SPOKEN_BY_MAX, VOICE, speakable
from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoError, PlivoNotFound
from shared.plivo.request_metrics import endpoint_of

log = logging.getLogger(__name__)

SPEAK_ACCEPTED: Final = (202,)


def others_in_room(events: Iterable[Event], conference_uuid: str, member_id: str) -> list[str]:
    """The member ids of the room `conference_uuid` in it now, except `member_id`. A
    member whose exit was recorded before its entry (callbacks race) counts as gone."""
    inside: dict[str, bool] = {}
    for event in events:
        detail = event.detail or {}
        if detail.get("ConferenceUUID") != conference_uuid:
            continue
        member = str(detail.get("ConferenceMemberID") or "")
        if event.kind == BridgeEvent.LEFT:
            inside[member] = False
        elif event.kind == BridgeEvent.JOINED:
            inside.setdefault(member, True)
    return [m for m, here in inside.items() if here and m and m != member_id]


def joined_words(who: str) -> str:
    return f"{speakable(who, SPOKEN_BY_MAX)} joined the incident bridge."


def speak_into_room(
    client: PlivoClient, conference: str, member_ids: Sequence[str], text: str
) -> bool:
    """Say `text` to those members of the room; False (logged) when Plivo did not take
    it. Never raises: an announcement missed must not fail the callback recording it."""
    if not member_ids:
        return False
    members = quote(",".join(member_ids), safe=",")
    path = f"/Conference/{quote(conference, safe='')}/Member/{members}/Speak/"
    url = f"{client.base_url}/v1/Account/{client.auth_id}{path}"
    body = {"text": text, "voice": VOICE, "language": LANGUAGE}
    try:
        client.request_url("POST", url, endpoint_of("POST", path), json=body, expect=SPEAK_ACCEPTED)
    except PlivoNotFound:
        log.info("incident bridge %s was over before its announcement", conference)
        return False
    except PlivoError as exc:
        log.warning("incident bridge %s: announcement not taken: %s", conference, exc)
        return False
    return True
