"""Outbound calls: validate like Plivo's `POST /Call/`, then ring, answer or not, hang up.

Each destination becomes a call placed when the account's call pacer allows
(over the limit Plivo answers "call queued", it does not refuse). The number's
scenario decides what the far end does; the application learns everything
only through its answer, action, machine-detection and hangup URLs, as with
the real service.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from simulator.callbacks import CallbackSender
from simulator.callflow import CallFlow, Fetch
from simulator.config import SimulatorConfig
from simulator.dispatcher import Dispatcher
from simulator.errors import ApiError
from simulator.formats import (
    CALL_RATE,
    api_time,
    money,
    new_uuid,
    plivo_number,
    session_start,
    voice_callback_time,
)
from simulator.limits import Pacer
from simulator.paging import list_page
from simulator.scenarios import ScenarioBook
from simulator.state import CallRecord, SimulatorState

MAX_DESTINATIONS = 1000
UNANSWERED = {
    "no-answer": "NO_ANSWER",
    "busy": "USER_BUSY",
    "failed": "CALL_REJECTED",
    "timeout": "ALLOTTED_TIMEOUT",
}
URL_FIELDS = ("answer_url", "hangup_url", "ring_url", "machine_detection_url", "fallback_url")
METHOD_FIELDS = (
    "answer_method",
    "hangup_method",
    "ring_method",
    "machine_detection_method",
    "fallback_method",
)


def _http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _int_field(body: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = body.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be an integer") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return number


def _destination(text: str) -> str | None:
    text = text.strip()
    if text.startswith("sip:"):
        return text
    return plivo_number(text)


def validate_call(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Checked and defaulted parameters, plus the destinations; ApiError(400) otherwise."""
    for name in ("from", "to", "answer_url"):
        if not body.get(name) or not isinstance(body.get(name), str):
            raise ApiError(400, f"Missing mandatory parameter: {name}")
    source = plivo_number(body["from"])
    if source is None:
        raise ApiError(400, "from must be a valid phone number")
    destinations: list[str] = []
    for part in body["to"].split("<"):
        if not part.strip():
            continue
        number = _destination(part)
        if number is None:
            raise ApiError(400, f"invalid destination number: {part.strip()}")
        if number not in destinations:
            destinations.append(number)
    if not destinations:
        raise ApiError(400, "Missing mandatory parameter: to")
    if len(destinations) > MAX_DESTINATIONS:
        raise ApiError(400, f"too many destination numbers: at most {MAX_DESTINATIONS}")
    params: dict[str, Any] = {"from": source}
    for name in URL_FIELDS:
        value = body.get(name)
        if value in (None, ""):
            params[name] = None
        elif not _http_url(value):
            raise ApiError(400, f"{name} must be an http or https URL")
        else:
            params[name] = value
    for name in METHOD_FIELDS:
        method = str(body.get(name) or "POST").upper()
        if method not in ("GET", "POST"):
            raise ApiError(400, f"{name} must be GET or POST")
        params[name] = method
    params["ring_timeout"] = _int_field(body, "ring_timeout", 120, 1, 300)
    params["time_limit"] = _int_field(body, "time_limit", 14400, 1, 86400)
    detection = body.get("machine_detection")
    if detection in (None, "", False, "false"):
        params["machine_detection"] = None
    elif detection is True or str(detection).lower() in ("true", "hangup"):
        params["machine_detection"] = "true" if detection is True else str(detection).lower()
    else:
        raise ApiError(400, "machine_detection must be true or hangup")
    params["machine_detection_time"] = _int_field(body, "machine_detection_time", 5000, 2000, 10000)
    caller_name = body.get("caller_name")
    if caller_name is not None and (not isinstance(caller_name, str) or len(caller_name) > 50):
        raise ApiError(400, "caller_name must be text of at most 50 characters")
    params["caller_name"] = caller_name
    return params, destinations


class CallService:
    """Places calls and plays each one out according to its number's scenario."""

    def __init__(
        self,
        *,
        config: SimulatorConfig,
        state: SimulatorState,
        scenarios: ScenarioBook,
        dispatcher: Dispatcher,
        sender: CallbackSender,
    ) -> None:
        self._config = config
        self._state = state
        self._scenarios = scenarios
        self._dispatcher = dispatcher
        self._sender = sender
        self._pacer = Pacer(config.calls_per_second)

    def reset(self) -> None:
        self._pacer.reset()

    # -- API ------------------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        params, destinations = validate_call(body)
        now = time.monotonic()
        request_uuids: list[str] = []
        queued = False
        for to in destinations:
            record = CallRecord(
                request_uuid=new_uuid(),
                call_uuid=new_uuid(),
                from_number=params["from"],
                to_number=to,
                params=params,
                created=time.time(),
            )
            self._state.add_call(record)
            slot = self._pacer.reserve(now)
            queued = queued or slot > now + 0.001
            self._plan(record, slot)
            request_uuids.append(record.request_uuid)
        request_uuid: str | list[str] = (
            request_uuids[0] if len(request_uuids) == 1 else request_uuids
        )
        message = "call queued" if queued else "call fired"
        return 201, {"message": message, "request_uuid": request_uuid}

    def get(self, call_uuid: str) -> dict[str, Any]:
        record = self._state.call(call_uuid)
        if record is None:
            raise ApiError(404, "not found")
        return self.describe(record)

    def page(self, args: Mapping[str, str]) -> dict[str, Any]:
        """The `GET /Call/` list, newest first."""
        records = list(reversed(self._state.calls()))
        return list_page(records, args, f"/v1/Account/{self._config.auth_id}/Call/", self.describe)

    def describe(self, record: CallRecord) -> dict[str, Any]:
        """The `GET /Call/<uuid>/` body (api_id added by the caller)."""
        duration = _duration(record)
        billed = 60 * math.ceil(duration / 60) if duration else 0
        return {
            "answer_time": api_time(record.answer_time),
            "bill_duration": duration,
            "billed_duration": billed,
            "call_direction": "outbound",
            "call_duration": duration,
            "call_uuid": record.call_uuid,
            "end_time": api_time(record.end_time),
            "from_number": f"+{record.from_number}",
            "initiation_time": api_time(record.created),
            "parent_call_uuid": None,
            "resource_uri": f"/v1/Account/{self._config.auth_id}/Call/{record.call_uuid}/",
            "to_number": record.to_number,
            "total_amount": money(float(CALL_RATE) * billed / 60),
            "total_rate": CALL_RATE,
            "call_state": record.status,
            "hangup_cause_name": record.hangup_cause,
        }

    # -- lifecycle -------------------------------------------------------------

    def _plan(self, record: CallRecord, slot: float) -> None:
        scenario = self._scenarios.get(record.to_number)
        delay = scenario.answer_delay_s
        if delay is None:
            delay = self._config.ring_delay_s
        uuid = record.call_uuid
        self._dispatcher.schedule(slot, uuid, lambda: self._ring(uuid))
        self._dispatcher.schedule(slot + delay, uuid, lambda: self._pick_up(uuid))

    def _base_params(self, record: CallRecord) -> dict[str, str]:
        params = {
            "CallUUID": record.call_uuid,
            "RequestUUID": record.request_uuid,
            "From": record.from_number,
            "To": record.to_number,
            "Direction": "outbound",
            "ALegUUID": record.call_uuid,
            "ALegRequestUUID": record.request_uuid,
        }
        if record.params.get("caller_name"):
            params["CallerName"] = record.params["caller_name"]
        return params

    def _mark(self, uuid: str, status: str, **times: float) -> CallRecord | None:
        now = time.time()

        def change(call: CallRecord) -> bool:
            call.status = status
            for name, value in times.items():
                setattr(call, name, value)
            call.events.append({"event": status, "time": now})
            return True

        return self._state.call(uuid) if self._state.update_call(uuid, change) else None

    def _ring(self, uuid: str) -> None:
        record = self._mark(uuid, "ringing", ring_time=time.time())
        if record is None or not record.params.get("ring_url"):
            return
        params = {**self._base_params(record), "CallStatus": "ringing", "Event": "Ring"}
        self._sender.send(
            record.params["ring_url"], params, record.params["ring_method"], kind="voice:ring"
        )

    def _pick_up(self, uuid: str) -> None:
        current = self._state.call(uuid)
        if current is None:
            return
        outcome = self._scenarios.get(current.to_number).voice
        if not outcome.answered:
            self._hang_up(uuid, outcome.kind, UNANSWERED[outcome.kind])
            return
        record = self._mark(uuid, "in-progress", answer_time=time.time())
        if record is None:
            return
        detection = record.params.get("machine_detection")
        is_machine = outcome.kind == "machine"
        if is_machine:
            self._state.update_call(uuid, lambda call: setattr(call, "machine", True))
        detect = (lambda: self._report_machine(record)) if is_machine and detection else None
        if is_machine and detection == "hangup":
            self._report_machine(record)
        else:
            self._answer(record, [] if is_machine else list(outcome.digits), detect)
        self._dispatcher.schedule(
            time.monotonic() + self._config.call_talk_s,
            uuid,
            lambda: self._hang_up(uuid, "completed", "NORMAL_CLEARING"),
        )

    def _answer(self, record: CallRecord, digits: list[str], before_walk: Any) -> None:
        base = self._base_params(record)
        start = {
            **base,
            "CallStatus": "in-progress",
            "Event": "StartApp",
            "BillRate": CALL_RATE,
            "SessionStart": session_start(record.answer_time or time.time()),
        }
        flow = CallFlow(
            call_uuid=record.call_uuid,
            base_params=base,
            digits=digits,
            state=self._state,
            sender=self._sender,
            max_documents=self._config.max_xml_steps,
            fallback_url=record.params.get("fallback_url"),
            fallback_method=record.params.get("fallback_method", "POST"),
        )
        first = Fetch(
            record.params["answer_url"], record.params["answer_method"], start, "voice:answer"
        )
        flow.run(first, before_walk)

    def _report_machine(self, record: CallRecord) -> None:
        url = record.params.get("machine_detection_url")
        if not url:
            return
        params = {
            "CallUUID": record.call_uuid,
            "RequestUUID": record.request_uuid,
            "From": record.from_number,
            "To": record.to_number,
            "Machine": "true",
            "Event": "MachineDetection",
        }
        method = record.params.get("machine_detection_method", "POST")
        self._sender.send(url, params, method, kind="voice:machine")

    def _hang_up(self, uuid: str, status: str, cause: str) -> None:
        now = time.time()

        def finish(call: CallRecord) -> bool:
            call.status = status
            call.hangup_cause = cause
            call.end_time = now
            call.events.append({"event": status, "time": now, "cause": cause})
            return True

        if self._state.update_call(uuid, finish) is None:
            return
        record = self._state.call(uuid)
        if record is None or not record.params.get("hangup_url"):
            return
        duration = _duration(record)
        params = {
            **self._base_params(record),
            "CallStatus": status,
            "Event": "Hangup",
            "HangupCause": cause,
            "Duration": str(duration),
            "BillDuration": str(duration),
            "BillRate": CALL_RATE,
            "StartTime": voice_callback_time(record.ring_time or record.created),
            "AnswerTime": voice_callback_time(record.answer_time),
            "EndTime": voice_callback_time(record.end_time),
        }
        self._sender.send(
            record.params["hangup_url"], params, record.params["hangup_method"], kind="voice:hangup"
        )


def _duration(record: CallRecord) -> int:
    """Whole seconds from answer to end, at least 1 for an answered call; 0 otherwise."""
    if record.answer_time is None or record.end_time is None:
        return 0
    return max(1, math.ceil(record.end_time - record.answer_time))
