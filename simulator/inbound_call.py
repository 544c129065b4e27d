"""Inbound calls: someone dials one of the account's numbers and Plivo asks the
application (its answer_url) what to do.

`POST /_sim/inbound_call` plays the phone network's part: the answer URL gets
the signed StartApp request Plivo sends for an inbound call
(`Direction=inbound`), and the call then follows the XML like every simulated
call (simulator.callflow): what is spoken is recorded, `digits` are pressed one
entry per GetInput in turn (none left: silence), Redirects are followed, and
each `<Dial>`'s numbers are recorded. The request answers once the call has
ended, with the call as `/_sim/calls` lists it.

As for inbound texts, the answer URL is a `path` on the configured receiver
(or a `url` on its origin), and nothing is sent anywhere else.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from simulator.callbacks import CallbackSender
from simulator.callflow import CallFlow, Fetch
from simulator.errors import ApiError
from simulator.formats import CALL_RATE, new_uuid, plivo_number, session_start
from simulator.inbound import target_url
from simulator.state import CallRecord, SimulatorState

# What a keypad can send in one GetInput: digits, * and #.
_KEYS = re.compile(r"[0-9*#]{1,20}")
MAX_KEYPRESSES: Final = 20
IN_PROGRESS: Final = "in-progress"


def _number(data: Mapping[str, Any], name: str) -> str:
    raw = data.get(name)
    number = plivo_number(raw) if isinstance(raw, str) else None
    if number is None:
        raise ApiError(400, f"{name} must be a phone number such as +14155550100")
    return number


def _digits(data: Mapping[str, Any]) -> list[str]:
    digits = data.get("digits", [])
    if not isinstance(digits, list) or len(digits) > MAX_KEYPRESSES:
        raise ApiError(400, f"digits must be a list of at most {MAX_KEYPRESSES} keypresses")
    if not all(isinstance(keys, str) and _KEYS.fullmatch(keys) for keys in digits):
        raise ApiError(400, 'digits must hold keys pressed at each GetInput, such as ["1", "2"]')
    return list(digits)


def _method(data: Mapping[str, Any]) -> str:
    method = str(data.get("method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(400, "method must be GET or POST")
    return method


def _base_params(record: CallRecord) -> dict[str, str]:
    """What every request about an inbound call carries."""
    return {
        "CallUUID": record.call_uuid,
        "RequestUUID": record.request_uuid,
        "From": record.from_number,
        "To": record.to_number,
        "Direction": "inbound",
        "ALegUUID": record.call_uuid,
        "ALegRequestUUID": record.request_uuid,
    }


def place_inbound_call(
    *,
    state: SimulatorState,
    sender: CallbackSender,
    data: Any,
    receiver_url: str | None,
    max_documents: int,
    stopping: threading.Event,
) -> dict[str, Any]:
    """Answer a call from `from` to `to` with the application at `path` (or `url`), play
    it out with `digits`, hang it up; the call as recorded. 400 naming the field on bad input."""
    if not isinstance(data, Mapping):
        raise ApiError(400, "body must be a JSON object")
    from_number, to_number = _number(data, "from"), _number(data, "to")
    url, method, digits = target_url(data, receiver_url), _method(data), _digits(data)
    now = time.time()
    record = CallRecord(
        request_uuid=new_uuid(),
        call_uuid=new_uuid(),
        from_number=from_number,
        to_number=to_number,
        params={"answer_url": url, "answer_method": method},
        created=now,
        status=IN_PROGRESS,
        ring_time=now,
        answer_time=now,
        direction="inbound",
    )
    state.add_call(record)
    base = _base_params(record)
    first = Fetch(
        url,
        method,
        {
            **base,
            "CallStatus": IN_PROGRESS,
            "Event": "StartApp",
            "BillRate": CALL_RATE,
            "SessionStart": session_start(now),
        },
        "voice:inbound",
    )
    CallFlow(
        call_uuid=record.call_uuid,
        base_params=base,
        digits=digits,
        state=state,
        sender=sender,
        max_documents=max_documents,
        pause=stopping.wait,
    ).run(first)
    _hang_up(state, record.call_uuid)
    ended = state.call(record.call_uuid)
    return ended.to_json() if ended is not None else {"call_uuid": record.call_uuid}


def _hang_up(state: SimulatorState, call_uuid: str) -> None:
    """The XML ran out (or hung up): the call is over, as Plivo reports a normal end."""
    now = time.time()

    def finish(call: CallRecord) -> None:
        if call.status != IN_PROGRESS:
            return
        call.status, call.hangup_cause, call.end_time = "completed", "NORMAL_CLEARING", now
        call.events.append({"event": "completed", "time": now, "cause": "NORMAL_CLEARING"})

    state.update_call(call_uuid, finish)
