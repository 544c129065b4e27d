"""The answered part of a call: fetch the application's XML and act it out.

This is where an application's voice logic meets "the phone": what it says is
recorded, the scenario's keypresses go to the GetInput/GetDigits action URL,
and whatever XML comes back is followed, up to a bounded number of documents
so a Redirect loop cannot run forever. A call hung up through the API stops
where it is: nothing more is said, pressed or fetched. A call transferred
through the API (`POST /Call/{uuid}/`, `aleg_url`) stops its document where it
is, mid-prompt included, and goes on with the document the new URL returns.
A `<Conference>` puts the call in a room shared with other calls for a while
(simulator.conference).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

from simulator.callbacks import CallbackResult, CallbackSender
from simulator.conference import (
    DEFAULT_STAY_S,
    ConferenceSpec,
    FinishedRecording,
    Membership,
    action_params,
    member_params,
    recording_params,
)
from simulator.state import CallRecord, SimulatorState
from simulator.voicexml import Verb, VoiceXmlError, parse_response

MAX_LOGGED_XML = 4000


@dataclass(frozen=True)
class Fetch:
    """The next document to request: where, how, with which parameters."""

    url: str
    method: str
    params: dict[str, str]
    kind: str


HANGUP = "hangup"
TRANSFER = "transfer"


@dataclass
class CallFlow:
    """One answered call's walk through the application's XML."""

    call_uuid: str
    base_params: dict[str, str]
    digits: list[str]
    state: SimulatorState
    sender: CallbackSender
    max_documents: int
    fallback_url: str | None = None
    fallback_method: str = "POST"
    # How long the callee listens to a prompt before pressing (scenario input_delay_s).
    input_delay_s: float = 0.0
    # Sleeps up to the given seconds; True when the simulator is stopping.
    pause: Callable[[float], bool] | None = None
    documents: int = field(default=0, init=False)

    def run(self, first: Fetch | None) -> None:
        """Fetch `first` (None: start from a transfer waiting on the call), then follow
        the XML, switching to the transfer's URL whenever one comes in."""
        document = self._fetch(first, allow_fallback=True) if first is not None else None
        while True:
            moved = self._take_transfer()
            if moved is not None:
                if self._too_many():
                    return
                document = self._fetch(moved, allow_fallback=False)
                continue
            if document is None:
                return
            verbs, source = document
            next_fetch = self._execute(verbs, source)
            if next_fetch == TRANSFER:
                continue
            if not isinstance(next_fetch, Fetch) or self._too_many():
                return
            document = self._fetch(next_fetch, allow_fallback=False)

    def hung_up(self) -> bool:
        """True once the call is no longer in progress (hung up through the API, or reset)."""
        return self.state.call_status(self.call_uuid) != "in-progress"

    def _too_many(self) -> bool:
        if self.documents < self.max_documents:
            return False
        self._error(f"stopped after {self.max_documents} XML documents")
        return True

    def _transfer_waiting(self) -> bool:
        return bool(self.state.update_call(self.call_uuid, lambda call: call.transfer is not None))

    def _take_transfer(self) -> Fetch | None:
        """The transfer waiting on the call, taken (so it is followed once), as a fetch."""

        def take(call: CallRecord) -> dict[str, str] | None:
            target, call.transfer = call.transfer, None
            return target

        target = self.state.update_call(self.call_uuid, take)
        if target is None or self.hung_up():
            return None
        return Fetch(target["url"], target["method"], self._call_params(), "voice:transfer")

    # -- fetching ---------------------------------------------------------------

    def _fetch(self, fetch: Fetch, *, allow_fallback: bool) -> tuple[list[Verb], str] | None:
        if self.hung_up():
            return None
        self.documents += 1
        result = self.sender.send(fetch.url, fetch.params, fetch.method, kind=fetch.kind)
        self._log_xml(fetch, result)
        if not result.ok and allow_fallback and self.fallback_url:
            fetch = Fetch(self.fallback_url, self.fallback_method, fetch.params, "voice:fallback")
            result = self.sender.send(fetch.url, fetch.params, fetch.method, kind=fetch.kind)
            self._log_xml(fetch, result)
        if not result.ok:
            self._error(f"{fetch.kind} {fetch.url} failed: {result.error or result.status}")
            return None
        try:
            return parse_response(result.body), fetch.url
        except VoiceXmlError as exc:
            self._error(f"{fetch.kind} {fetch.url} returned bad XML: {exc}")
            return None

    def _log_xml(self, fetch: Fetch, result: CallbackResult) -> None:
        entry = {
            "kind": fetch.kind,
            "url": fetch.url,
            "method": fetch.method,
            "status": result.status,
            "xml": result.body[:MAX_LOGGED_XML],
        }
        self.state.update_call(self.call_uuid, lambda call: call.xml.append(entry))

    # -- acting the XML out -----------------------------------------------------

    def _execute(self, verbs: list[Verb], source: str) -> Fetch | str | None:
        """Play verbs in order; a Fetch to follow, HANGUP, TRANSFER (the call was moved
        elsewhere), or None at the end of the document."""
        for verb in verbs:
            if self.hung_up():
                return HANGUP
            if self._transfer_waiting():
                return TRANSFER
            if verb.name in ("Speak", "Play"):
                self._say(verb)
            elif verb.name == "Wait":
                self._event("wait", length=verb.attr("length", "1"))
            elif verb.name in ("GetInput", "GetDigits"):
                outcome = self._gather(verb, source)
                if outcome is not None:
                    return outcome
            elif verb.name == "Redirect":
                if not verb.text:
                    self._error("Redirect without a URL")
                    return HANGUP
                url = urljoin(source, verb.text)
                method = verb.attr("method", "POST").upper()
                return Fetch(url, method, self._call_params(), "voice:redirect")
            elif verb.name == "Hangup":
                self._event("hangup_verb", reason=verb.attr("reason"))
                return HANGUP
            elif verb.name == "Dial":
                self._dial(verb)
            elif verb.name == "Conference":
                outcome = self._conference(verb, source)
                if outcome is not None:
                    return outcome
            elif verb.name == "PreAnswer":
                for child in verb.children:
                    if child.name in ("Speak", "Play"):
                        self._say(child)
            else:
                self._event("unsupported_verb", verb=verb.name)
        return None

    def _dial(self, verb: Verb) -> None:
        """Record the numbers a `<Dial>` puts the call through to; the bridged leg is not
        played out, and the document goes on after it as Plivo's does without `action`."""
        numbers = [child.text for child in verb.children if child.name == "Number"]

        def dial(call: CallRecord) -> None:
            call.dialled.extend(numbers)

        self.state.update_call(self.call_uuid, dial)
        self._event("dial", numbers=",".join(numbers))

    def _conference(self, verb: Verb, source: str) -> Fetch | str | None:
        """Enter the room, stay (simulator.conference says how long), leave; the member's
        enter and exit callbacks, and the recording's once the room empties, are posted
        as Plivo posts them. Then the `action` URL, or the rest of the document."""
        spec = ConferenceSpec.parse(verb, source)
        if isinstance(spec, str):
            self._error(spec)
            return HANGUP
        book = self.state.conferences
        membership = book.join(spec, self.call_uuid)
        self.state.update_call(self.call_uuid, lambda call: call.conferences.append(spec.name))
        self._event("conference_enter", room=spec.name, member=membership.member_id)
        self._notify(spec.callback_url, spec.callback_method, membership, "enter")
        outcome = self._stay(membership, min(spec.time_limit_s, DEFAULT_STAY_S))
        finished = book.leave(membership, self.call_uuid)
        self._event("conference_exit", room=spec.name, member=membership.member_id)
        self._notify(spec.callback_url, spec.callback_method, membership, "exit")
        if finished is not None:
            self._post_recording(membership, finished)
        if outcome is not None or spec.action is None:
            return outcome
        params = {**self._call_params(), **action_params(membership)}
        return Fetch(spec.action, spec.method, params, "voice:conference_action")

    def _notify(self, url: str | None, method: str, membership: Membership, action: str) -> None:
        if url and not self._stopping():
            params = member_params(membership, self.call_uuid, action)
            self.sender.send(url, params, method, kind="voice:conference")

    def _post_recording(self, membership: Membership, finished: FinishedRecording) -> None:
        """The recording of a room that emptied, to the callbackUrl of the member that
        started it."""
        recording = finished.recording
        if recording.callback_url and not self._stopping():
            params = recording_params(membership, finished)
            method = recording.callback_method
            self.sender.send(recording.callback_url, params, method, kind="voice:recording")

    def _stay(self, membership: Membership, limit_s: float, step_s: float = 0.05) -> str | None:
        """Wait in the room: None when it was ended or the time ran out, HANGUP or
        TRANSFER when the call itself ended or was moved meanwhile."""
        deadline = time.monotonic() + limit_s
        while (left := deadline - time.monotonic()) > 0 and self.pause is not None:
            if self.pause(min(step_s, left)) or self.hung_up():
                return HANGUP
            if self._transfer_waiting():
                return TRANSFER
            if self.state.conferences.is_over(membership):
                return None
        return None

    def _stopping(self) -> bool:
        return self.pause is not None and self.pause(0)

    def _say(self, verb: Verb) -> None:
        text = verb.text if verb.name == "Speak" else f"[play] {verb.text}"
        self.state.update_call(self.call_uuid, lambda call: call.spoken.append(text))

    def _gather(self, verb: Verb, source: str) -> Fetch | str | None:
        """Speak the prompts, listen, then press the scenario's next keys (if any) and post them."""
        for child in verb.children:
            if child.name in ("Speak", "Play"):
                self._say(child)
        if self._listen():
            return TRANSFER if self._transfer_waiting() else HANGUP
        accepts_dtmf = verb.name == "GetDigits" or "dtmf" in verb.attr("inputType", "dtmf")
        if not self.digits or not accepts_dtmf:
            self._event("no_input", verb=verb.name)
            return None
        pressed = self.digits.pop(0)
        limit = verb.attr("numDigits")
        if limit.isdigit() and int(limit) > 0:
            pressed = pressed[: int(limit)]
        self.state.update_call(self.call_uuid, lambda call: call.digits.append(pressed))
        params = self._call_params()
        params["Digits"] = pressed
        if verb.name == "GetInput":
            params["InputType"] = "dtmf"
        action = urljoin(source, verb.attr("action") or source)
        fetch = Fetch(action, verb.attr("method", "POST").upper(), params, "voice:action")
        if verb.attr("redirect", "true").lower() == "false":
            # The action is told about the input, but the call goes on with this document.
            self.documents += 1
            result = self.sender.send(fetch.url, fetch.params, fetch.method, kind=fetch.kind)
            self._log_xml(fetch, result)
            return None
        return fetch

    def _listen(self, step_s: float = 0.02) -> bool:
        """Wait out input_delay_s as the callee listens; True when the call ended or was
        transferred meanwhile (the prompt stops there)."""
        deadline = time.monotonic() + self.input_delay_s
        while (left := deadline - time.monotonic()) > 0 and self.pause is not None:
            if self.pause(min(step_s, left)) or self.hung_up() or self._transfer_waiting():
                return True
        return self.hung_up() or self._transfer_waiting()

    def _call_params(self) -> dict[str, str]:
        return {**self.base_params, "CallStatus": "in-progress"}

    def _event(self, name: str, **detail: str) -> None:
        entry = {"event": name, "time": time.time(), **detail}
        self.state.update_call(self.call_uuid, lambda call: call.events.append(entry))

    def _error(self, message: str) -> None:
        def add(call: CallRecord) -> None:
            call.errors.append(message)

        self.state.update_call(self.call_uuid, add)
