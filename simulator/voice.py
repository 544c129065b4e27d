"""Outbound calls: placed after `POST /Call/`, then ring, answer or not, hang up.

Each destination becomes a call placed when the account's call pacer allows
(over the limit Plivo answers "call queued", it does not refuse). The number's
scenario decides what the far end does; the application learns everything
only through its answer, action, machine-detection and hangup URLs, as with
the real service. The Live Call API ends a call early: `DELETE /Request/`
cancels one not yet answered, `DELETE /Call/` hangs up one in progress; and
moves one in progress: `POST /Call/` with `aleg_url` stops its XML and plays
what that URL returns. Machine detection runs as Plivo documents it
(simulator.detection): beside the call, reporting up to machine_detection_time
after the answer, or before the answer URL when no machine_detection_url is given.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from simulator.billing import billed_seconds, call_cost
from simulator.call_params import validate_call, validate_transfer
from simulator.callbacks import CallbackSender
from simulator.callflow import CallFlow, Fetch
from simulator.config import SimulatorConfig
from simulator.detection import Detection, machine_report, plan_detection
from simulator.dispatcher import Dispatcher
from simulator.errors import ApiError
from simulator.formats import (
    CALL_RATE,
    api_time,
    new_uuid,
    session_start,
    voice_callback_time,
)
from simulator.limits import Pacer
from simulator.paging import list_page
from simulator.scenarios import ScenarioBook
from simulator.state import CallRecord, SimulatorState

UNANSWERED = {
    "no-answer": "NO_ANSWER",
    "busy": "USER_BUSY",
    "failed": "CALL_REJECTED",
    "timeout": "ALLOTTED_TIMEOUT",
}
# A call not yet answered: `DELETE /Request/` cancels it.
NOT_ANSWERED = frozenset({"queued", "ringing"})
IN_PROGRESS = "in-progress"
LIVE = NOT_ANSWERED | {IN_PROGRESS}


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
        billed = billed_seconds(duration)
        return {
            "answer_time": api_time(record.answer_time),
            "bill_duration": billed,
            "billed_duration": billed,
            "call_direction": record.direction,
            "call_duration": duration,
            "call_uuid": record.call_uuid,
            "end_time": api_time(record.end_time),
            "from_number": f"+{record.from_number}",
            "initiation_time": api_time(record.created),
            "parent_call_uuid": None,
            "resource_uri": f"/v1/Account/{self._config.auth_id}/Call/{record.call_uuid}/",
            "to_number": record.to_number,
            "total_amount": call_cost(billed),
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

    def _mark(
        self, uuid: str, status: str, allowed: frozenset[str], **times: float
    ) -> CallRecord | None:
        """Move the call to `status` if it is in `allowed` (a hang-up may have won the race)."""
        now = time.time()

        def change(call: CallRecord) -> bool:
            if call.status not in allowed:
                return False
            call.status = status
            for name, value in times.items():
                setattr(call, name, value)
            call.events.append({"event": status, "time": now})
            return True

        return self._state.call(uuid) if self._state.update_call(uuid, change) else None

    def _ring(self, uuid: str) -> None:
        record = self._mark(uuid, "ringing", frozenset({"queued"}), ring_time=time.time())
        if record is None or not record.params.get("ring_url"):
            return
        params = {**self._base_params(record), "CallStatus": "ringing", "Event": "Ring"}
        self._sender.send(
            record.params["ring_url"], params, record.params["ring_method"], kind="voice:ring"
        )

    def _pick_up(self, uuid: str) -> None:
        current = self._state.call(uuid)
        if current is None or current.status != "ringing":
            return
        scenario = self._scenarios.get(current.to_number)
        outcome = scenario.voice
        if not outcome.answered:
            self._hang_up(uuid, outcome.kind, UNANSWERED[outcome.kind])
            return
        record = self._mark(uuid, IN_PROGRESS, frozenset({"ringing"}), answer_time=time.time())
        if record is None:
            return
        is_machine = outcome.kind == "machine"
        if is_machine:
            self._state.update_call(uuid, lambda call: setattr(call, "machine", True))
        detection = plan_detection(
            record.params, is_machine=is_machine, detection_delay_s=scenario.detection_delay_s
        )
        if detection is None:
            self._play(uuid, {})
            return
        plan = detection
        verdict_at = time.monotonic() + plan.after_s
        if plan.synchronous:
            # The answer URL waits for the verdict, which it then carries.
            self._dispatcher.schedule(verdict_at, uuid, lambda: self._verdict_first(uuid, plan))
            return
        if plan.machine:
            # Asynchronous: reported beside the call, on a lane of its own.
            lane = f"{uuid}:detection"
            self._dispatcher.schedule(verdict_at, lane, lambda: self._found_machine(uuid, plan))
        self._play(uuid, {})

    def _verdict_first(self, uuid: str, detection: Detection) -> None:
        """Synchronous detection is over: hang up on a machine (`hangup`), else answer."""
        if self._state.call_status(uuid) != IN_PROGRESS:
            return
        if detection.machine:
            self._state.update_call(uuid, lambda call: setattr(call, "machine_detected", True))
            if detection.hang_up:
                self._hang_up(uuid, "completed", "NORMAL_CLEARING")
                return
        self._play(uuid, {"Machine": "true" if detection.machine else "false"})

    def _found_machine(self, uuid: str, detection: Detection) -> None:
        """Asynchronous detection found a machine on a call still in progress: report it
        to machine_detection_url (the call plays on meanwhile), and hang up for `hangup`."""

        def detected(call: CallRecord) -> bool:
            if call.status != IN_PROGRESS:
                return False
            call.machine_detected = True
            call.events.append({"event": "machine_detected", "time": time.time()})
            return True

        if not self._state.update_call(uuid, detected):
            return  # the call ended before the verdict: Plivo reports nothing
        record = self._state.call(uuid)
        if record is None:
            return
        self._report_machine(record, detection.hang_up)
        if detection.hang_up:
            self._end_now(uuid, LIVE)

    def _play(self, uuid: str, answer_extra: dict[str, str]) -> None:
        """The answered call's XML, then the hang-up once it has run out."""
        record = self._state.call(uuid)
        if record is None or record.status != IN_PROGRESS:
            return
        scenario = self._scenarios.get(record.to_number)
        digits = [] if record.machine else list(scenario.voice.digits)
        self._answer(record, digits, scenario.input_delay_s, answer_extra)
        self._end_after_xml(uuid)

    def _end_after_xml(self, uuid: str) -> None:
        self._dispatcher.schedule(
            time.monotonic() + self._config.call_talk_s,
            uuid,
            lambda: self._hang_up(uuid, "completed", "NORMAL_CLEARING"),
        )

    def _flow(self, record: CallRecord, digits: list[str], input_delay_s: float) -> CallFlow:
        return CallFlow(
            call_uuid=record.call_uuid,
            base_params=self._base_params(record),
            digits=digits,
            state=self._state,
            sender=self._sender,
            max_documents=self._config.max_xml_steps,
            fallback_url=record.params.get("fallback_url"),
            fallback_method=record.params.get("fallback_method", "POST"),
            input_delay_s=input_delay_s,
            pause=self._dispatcher.stopping.wait,
        )

    def _answer(
        self,
        record: CallRecord,
        digits: list[str],
        input_delay_s: float,
        answer_extra: dict[str, str],
    ) -> None:
        start = {
            **self._base_params(record),
            "CallStatus": IN_PROGRESS,
            "Event": "StartApp",
            "BillRate": CALL_RATE,
            "SessionStart": session_start(record.answer_time or time.time()),
            **answer_extra,
        }
        first = Fetch(
            record.params["answer_url"], record.params["answer_method"], start, "voice:answer"
        )
        self._flow(record, digits, input_delay_s).run(first)

    def _report_machine(self, record: CallRecord, hang_up: bool) -> None:
        url = record.params.get("machine_detection_url")
        if not url:
            return
        params = machine_report(
            call_uuid=record.call_uuid,
            request_uuid=record.request_uuid,
            from_number=record.from_number,
            to_number=record.to_number,
            hang_up=hang_up,
        )
        method = record.params.get("machine_detection_method", "POST")
        self._sender.send(url, params, method, kind="voice:machine")

    # -- transfer ---------------------------------------------------------------

    def transfer(self, call_uuid: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /Call/<uuid>/`: move a call in progress to `aleg_url`; 404 once it is over.

        The XML playing stops where it is (simulator.callflow) and the new
        URL's document plays instead; a call whose XML already ran out (it is
        only waiting to be hung up) plays the new document on its lane.
        """
        url, method = validate_transfer(body)

        def move(call: CallRecord) -> bool:
            if call.status != IN_PROGRESS:
                return False
            call.transfer = {"url": url, "method": method}
            call.events.append({"event": "transfer", "time": time.time(), "url": url})
            return True

        if not self._state.update_call(call_uuid, move):
            raise ApiError(404, "not found")
        self._dispatcher.schedule(
            time.monotonic(), call_uuid, lambda: self._follow_transfer(call_uuid)
        )
        return {"message": "call transfered"}

    def _follow_transfer(self, uuid: str) -> None:
        """A transfer the playing XML did not take (it had run out): play it now."""
        record = self._state.call(uuid)
        if record is None or record.transfer is None or record.status != IN_PROGRESS:
            return
        self._flow(record, [], 0.0).run(None)
        self._end_after_xml(uuid)

    # -- ending -----------------------------------------------------------------

    def cancel_request(self, request_uuid: str) -> None:
        """`DELETE /Request/<uuid>/`: stop a call before it is answered; 404 once it was."""
        uuid = self._state.call_uuid_for_request(request_uuid)
        if uuid is None or not self._end_now(uuid, NOT_ANSWERED):
            raise ApiError(404, "not found")

    def hang_up(self, call_uuid: str) -> None:
        """`DELETE /Call/<uuid>/`: end a live call wherever it is; 404 once it is over."""
        if not self._end_now(call_uuid, LIVE):
            raise ApiError(404, "not found")

    def _end_now(self, uuid: str, allowed: frozenset[str]) -> bool:
        """End the call if it is in `allowed`; its hangup callback follows on its lane,
        after whatever the call was doing (a fetch in flight) has finished."""
        ended = self._finish(uuid, allowed, None)
        if ended:
            self._dispatcher.schedule(time.monotonic(), uuid, lambda: self._post_hangup(uuid))
        return ended

    def _hang_up(self, uuid: str, status: str, cause: str) -> None:
        """The call ends by itself (unanswered, or its XML ran out)."""
        if self._finish(uuid, LIVE, (status, cause)):
            self._post_hangup(uuid)

    def _finish(self, uuid: str, allowed: frozenset[str], how: tuple[str, str] | None) -> bool:
        """End a call still in `allowed`, once. `how` None: ended by the caller's request,
        `cancel` before the answer and `completed` after it, as Plivo reports them."""
        now = time.time()

        def finish(call: CallRecord) -> bool:
            if call.status not in allowed:
                return False
            status, cause = how or (
                ("completed", "NORMAL_CLEARING")
                if call.status == IN_PROGRESS
                else ("cancel", "ORIGINATOR_CANCEL")
            )
            call.status = status
            call.hangup_cause = cause
            call.end_time = now
            call.events.append({"event": status, "time": now, "cause": cause})
            return True

        return bool(self._state.update_call(uuid, finish))

    def _post_hangup(self, uuid: str) -> None:
        record = self._state.call(uuid)
        if record is None or not record.params.get("hangup_url"):
            return
        duration = _duration(record)
        billed = billed_seconds(duration)
        params = {
            **self._base_params(record),
            "CallStatus": record.status,
            "Event": "Hangup",
            "HangupCause": record.hangup_cause or "",
            "Duration": str(duration),
            "BillDuration": str(billed),
            "BillRate": CALL_RATE,
            "TotalCost": call_cost(billed),
            "StartTime": voice_callback_time(record.ring_time or record.created),
            "AnswerTime": voice_callback_time(record.answer_time),
            "EndTime": voice_callback_time(record.end_time),
        }
        if record.machine_detected and record.params.get("machine_detection") == "hangup":
            params["Machine"] = "true"  # hung up on because a machine answered
        self._sender.send(
            record.params["hangup_url"], params, record.params["hangup_method"], kind="voice:hangup"
        )


def _duration(record: CallRecord) -> int:
    """Whole seconds from answer to end, at least 1 for an answered call; 0 otherwise."""
    if record.answer_time is None or record.end_time is None:
        return 0
    return max(1, math.ceil(record.end_time - record.answer_time))
