"""`<Conference>`: rooms shared by the calls that enter them, as Plivo runs them.

A room is named by the XML (`<Conference>alert-12</Conference>`) and exists
while someone is in it: the first call to enter creates it (with a new
ConferenceUUID), the last to leave ends it, and a later call of the same name
opens a new one. Each member gets a ConferenceMemberID. A member whose
`<Conference record="true">` opened the recording starts it; the recording
stops when the room empties, and its URL and length are then posted to that
member's `callbackUrl` (`ConferenceAction=record`), after the members'
`enter` and `exit` callbacks, with Plivo's parameter names.

How long a member stays: until its call is hung up or transferred, the room
is ended through `/_sim/conferences/<name>/end` (as Plivo's "hang up a
conference" does), the XML's `timeLimit`, or DEFAULT_STAY_S, whichever comes
first: a simulated responder does not talk for hours. The call then goes on
with its document (or the `action` URL), as Plivo's does. Text spoken into
the room (`POST /Conference/<name>/Member/<ids>/Speak/`) is heard by the
members it names: it is added to what their calls heard.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

from simulator.voicexml import Verb

DEFAULT_STAY_S = 30.0
PLIVO_TIME_LIMIT_S = 86400
RECORD_FORMATS = ("mp3", "wav")
# Where the fake recordings "are": never fetched, only handed back to the application.
RECORDING_BASE = "https://media.plivo.com/v1/Account/MASIMULATOR000000000/Recording"


@dataclass(frozen=True)
class ConferenceSpec:
    """One `<Conference>` element, read as Plivo reads it."""

    name: str
    record: bool
    file_format: str
    callback_url: str | None
    callback_method: str
    action: str | None
    method: str
    time_limit_s: float

    @classmethod
    def parse(cls, verb: Verb, source: str) -> ConferenceSpec | str:
        """The element's settings, or why Plivo would refuse it."""
        if not verb.text:
            return "Conference without a room name"
        file_format = verb.attr("recordFileFormat", "mp3").lower()
        if file_format not in RECORD_FORMATS:
            return "recordFileFormat must be mp3 or wav"
        methods = (verb.attr("callbackMethod", "POST").upper(), verb.attr("method", "POST").upper())
        if any(m not in ("GET", "POST") for m in methods):
            return "callbackMethod and method must be GET or POST"
        limit = verb.attr("timeLimit", str(PLIVO_TIME_LIMIT_S))
        if not limit.isdigit() or int(limit) <= 0:
            return "timeLimit must be a positive number of seconds"
        callback, action = verb.attr("callbackUrl"), verb.attr("action")
        return cls(
            name=verb.text,
            record=verb.attr("record", "false").lower() == "true",
            file_format=file_format,
            callback_url=urljoin(source, callback) if callback else None,
            callback_method=methods[0],
            action=urljoin(source, action) if action else None,
            method=methods[1],
            time_limit_s=float(limit),
        )


@dataclass
class Recording:
    """A room's recording: started by the member whose XML asked for it."""

    recording_id: str
    file_format: str
    started: float
    call_uuid: str
    member_id: str
    callback_url: str | None
    callback_method: str

    @property
    def url(self) -> str:
        return f"{RECORDING_BASE}/{self.recording_id}.{self.file_format}"


@dataclass
class Room:
    name: str
    uuid: str
    started: float
    members: dict[str, str] = field(default_factory=dict)  # call uuid -> member id
    next_member: int = 1
    ended: bool = False
    recording: Recording | None = None


@dataclass(frozen=True)
class Membership:
    """A call's place in a room: what its enter and exit callbacks name."""

    name: str
    conference_uuid: str
    member_id: str


@dataclass(frozen=True)
class FinishedRecording:
    """A recording stopped because its room emptied."""

    recording: Recording
    ended: float

    @property
    def duration_s(self) -> int:
        return max(1, math.ceil(self.ended - self.recording.started))


class ConferenceBook:
    """Every live room of the account, behind one lock (calls enter from many lanes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rooms: dict[str, Room] = {}

    def join(self, spec: ConferenceSpec, call_uuid: str) -> Membership:
        now = time.time()
        with self._lock:
            room = self._rooms.get(spec.name)
            if room is None:
                room = Room(name=spec.name, uuid=str(uuid.uuid4()), started=now)
                self._rooms[spec.name] = room
            member_id = str(room.next_member)
            room.next_member += 1
            room.members[call_uuid] = member_id
            if spec.record and room.recording is None:
                room.recording = Recording(
                    recording_id=str(uuid.uuid4()),
                    file_format=spec.file_format,
                    started=now,
                    call_uuid=call_uuid,
                    member_id=member_id,
                    callback_url=spec.callback_url,
                    callback_method=spec.callback_method,
                )
            return Membership(spec.name, room.uuid, member_id)

    def is_over(self, membership: Membership) -> bool:
        """True once the member's room was ended (or forgotten by a reset)."""
        with self._lock:
            room = self._rooms.get(membership.name)
            return room is None or room.uuid != membership.conference_uuid or room.ended

    def leave(self, membership: Membership, call_uuid: str) -> FinishedRecording | None:
        """Take the call out of its room; the recording, when this emptied the room."""
        with self._lock:
            room = self._rooms.get(membership.name)
            if room is None or room.uuid != membership.conference_uuid:
                return None
            room.members.pop(call_uuid, None)
            if room.members:
                return None
            del self._rooms[membership.name]
            if room.recording is None:
                return None
            return FinishedRecording(room.recording, time.time())

    def end(self, name: str) -> bool:
        """Plivo's "hang up a conference": every member leaves; False when there is no room."""
        with self._lock:
            room = self._rooms.get(name)
            if room is None:
                return False
            room.ended = True
            return True

    def speak_to(self, name: str, member_ids: str) -> list[tuple[str, str]] | None:
        """Plivo's "speak into a conference": (call uuid, member id) of each member
        `member_ids` names (`all`, or ids separated by commas) who is in the room;
        None when there is no such room."""
        wanted = {part.strip() for part in member_ids.split(",") if part.strip()}
        with self._lock:
            room = self._rooms.get(name)
            if room is None or room.ended:
                return None
            return [
                (call, member)
                for call, member in room.members.items()
                if "all" in wanted or member in wanted
            ]

    def rooms(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {
                    "name": room.name,
                    "conference_uuid": room.uuid,
                    "members": [
                        {"call_uuid": call, "member_id": member}
                        for call, member in room.members.items()
                    ],
                    "recording": room.recording is not None,
                    "ended": room.ended,
                }
                for room in self._rooms.values()
            ]

    def reset(self) -> None:
        with self._lock:
            self._rooms.clear()


def member_params(membership: Membership, call_uuid: str, action: str) -> dict[str, str]:
    """A member's `enter` or `exit` callback."""
    return {
        "ConferenceAction": action,
        "ConferenceName": membership.name,
        "ConferenceUUID": membership.conference_uuid,
        "ConferenceMemberID": membership.member_id,
        "CallUUID": call_uuid,
    }


def recording_params(membership: Membership, finished: FinishedRecording) -> dict[str, str]:
    """The recording's callback (`ConferenceAction=record`) to its starter's callbackUrl."""
    recording = finished.recording
    start_ms = int(recording.started * 1000)
    end_ms = int(finished.ended * 1000)
    return {
        "ConferenceAction": "record",
        "ConferenceName": membership.name,
        "ConferenceUUID": membership.conference_uuid,
        "ConferenceMemberID": recording.member_id,
        "CallUUID": recording.call_uuid,
        "RecordUrl": recording.url,
        "RecordingID": recording.recording_id,
        "RecordingDuration": str(finished.duration_s),
        "RecordingDurationMs": str(max(1, end_ms - start_ms)),
        "RecordingStartMs": str(start_ms),
        "RecordingEndMs": str(end_ms),
    }


def action_params(membership: Membership) -> dict[str, str]:
    """What the `action` URL is told once the member left."""
    return {
        "ConferenceName": membership.name,
        "ConferenceUUID": membership.conference_uuid,
        "ConferenceMemberID": membership.member_id,
    }
