"""Reading Plivo's conference callbacks: who entered or left which room, and recordings.

Pure: the form parameters in, a `BridgeReport` (or the field at fault) out.
Plivo's `<Conference callbackUrl>` posts `ConferenceAction` (`enter`, `exit`,
`record`; `digits` and `floor` are not used here) with `ConferenceName`,
`ConferenceUUID`, `ConferenceMemberID` and `CallUUID`; the recording's
callback adds `RecordUrl`, `RecordingID` and `RecordingDuration` (seconds;
`RecordingDurationMs` as well). The `Event` spelling of the same
(`ConferenceEnter`, `ConferenceExit`) is read too. A room is named after its
alert (`conference_name`), so a report names the alert it is about.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlsplit

CONFERENCE_PREFIX: Final = "alert-"
_ROOM = re.compile(r"alert-([1-9][0-9]{0,17})")
_ID_MAX = 64
_URL_MAX = 500


class BridgeEvent(StrEnum):
    """What a report records in the alert's timeline (the event's kind)."""

    OPENED = "bridge.opened"  # someone pressed 3 first: recorded by the keypress
    JOINED = "bridge.joined"
    LEFT = "bridge.left"
    RECORDING = "bridge.recording"


_ACTIONS: Final = {"enter": BridgeEvent.JOINED, "exit": BridgeEvent.LEFT}
_EVENTS: Final = {"conferenceenter": BridgeEvent.JOINED, "conferenceexit": BridgeEvent.LEFT}


def conference_name(alert_id: int) -> str:
    """The room of an alert's bridge: `alert-12`."""
    return f"{CONFERENCE_PREFIX}{alert_id}"


def alert_id_of(name: str) -> int | None:
    """The alert a room is named after; None for any other name."""
    match = _ROOM.fullmatch(name.strip())
    return int(match[1]) if match else None


@dataclass(frozen=True)
class BridgeReport:
    """One conference callback, checked."""

    event: BridgeEvent
    alert_id: int
    conference: str
    conference_uuid: str
    member_id: str
    call_uuid: str
    record_url: str = ""
    recording_id: str = ""
    duration_s: int = 0

    @property
    def dedup_key(self) -> str:
        """The same report posted twice (a retry, a fresh nonce) is one timeline entry."""
        if self.event is BridgeEvent.RECORDING:
            return f"bridge-recording:{self.recording_id}"
        return f"{self.event.value}:{self.conference_uuid}:{self.member_id}"

    def detail(self, who: str) -> dict[str, Any]:
        """The timeline entry's detail; `who` is the person (a contact name or masked number)."""
        if self.event is BridgeEvent.RECORDING:
            return {
                "conference": self.conference,
                "ConferenceUUID": self.conference_uuid,
                "RecordUrl": self.record_url,
                "RecordingID": self.recording_id,
                "duration_s": self.duration_s,
            }
        return {
            "who": who,
            "conference": self.conference,
            "ConferenceUUID": self.conference_uuid,
            "ConferenceMemberID": self.member_id,
            "CallUUID": self.call_uuid,
        }


class NotReported(ValueError):
    """A callback that is not a report we record: `field` says which parameter, if any."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _event_of(params: Mapping[str, str]) -> BridgeEvent | None:
    action = params.get("ConferenceAction", "").strip().lower()
    if action == "record" or (not action and params.get("RecordUrl")):
        return BridgeEvent.RECORDING
    return _ACTIONS.get(action) or _EVENTS.get(params.get("Event", "").strip().lower())


def _identifier(params: Mapping[str, str], name: str, *, required: bool = True) -> str:
    value = params.get(name, "").strip()
    if (required and not value) or len(value) > _ID_MAX or not value.isprintable():
        raise NotReported(name, f"must be an identifier of at most {_ID_MAX} characters")
    return value


def _duration_s(params: Mapping[str, str]) -> int:
    """RecordingDuration in seconds, else RecordingDurationMs rounded up."""
    seconds = params.get("RecordingDuration", "").strip()
    if seconds.isascii() and seconds.isdigit():
        return int(seconds)
    millis = params.get("RecordingDurationMs", "").strip()
    if millis.isascii() and millis.isdigit():
        return -(-int(millis) // 1000)
    raise NotReported("RecordingDuration", "must be a whole number of seconds")


def _record_url(params: Mapping[str, str]) -> str:
    url = params.get("RecordUrl", "").strip()
    parts = urlsplit(url)
    if len(url) > _URL_MAX or parts.scheme not in ("http", "https") or not parts.netloc:
        raise NotReported("RecordUrl", "must be an http(s) URL")
    return url


def read_report(params: Mapping[str, str]) -> BridgeReport:
    """The report a conference callback makes; NotReported naming the field otherwise
    (`ConferenceAction` for actions not recorded here, such as `digits`)."""
    event = _event_of(params)
    if event is None:
        raise NotReported("ConferenceAction", "not enter, exit or record")
    name = params.get("ConferenceName", "").strip()
    alert_id = alert_id_of(name)
    if alert_id is None:
        raise NotReported("ConferenceName", "not the bridge of an alert (alert-<id>)")
    recording = event is BridgeEvent.RECORDING
    report = BridgeReport(
        event=event,
        alert_id=alert_id,
        conference=name,
        conference_uuid=_identifier(params, "ConferenceUUID"),
        member_id=_identifier(params, "ConferenceMemberID", required=not recording),
        call_uuid=_identifier(params, "CallUUID", required=not recording),
    )
    if not recording:
        return report
    return replace(
        report,
        record_url=_record_url(params),
        recording_id=_identifier(params, "RecordingID"),
        duration_s=_duration_s(params),
    )
