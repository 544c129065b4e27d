"""Plivo's answering-machine detection as the simulator plays it: when, and what it says.

PLIVO.md: `machine_detection` (`true` | `hangup`) turns detection on and
`machine_detection_time` (2,000-10,000 ms, default 5,000) bounds how long it
listens after the answer. With a `machine_detection_url` detection is
asynchronous: the call goes on with the answer URL's XML at once and, when a
machine is found, Plivo posts `Machine=true, Event=MachineDetection, CallUUID,
RequestUUID, From, To` (plus the leg ids, `IfMachine`, `Direction` and
`CallStatus=in-progress`, as Plivo's page on asynchronous detection lists) to
that URL while the call plays on. Without one it is synchronous: the answer URL
is fetched only once the verdict is in, and carries `Machine=true|false`.
With `hangup`, a machine is hung up on when it is found.

Pure: the call's parameters and its number's scenario in, the plan out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_DETECTION_MS = 5000


@dataclass(frozen=True)
class Detection:
    """What detection will do on one answered call."""

    synchronous: bool  # no machine_detection_url: the answer URL waits for the verdict
    hang_up: bool  # machine_detection=hangup: a machine found is hung up on
    machine: bool  # the verdict
    after_s: float  # from the answer to the verdict


def plan_detection(
    params: Mapping[str, Any], *, is_machine: bool, detection_delay_s: float | None
) -> Detection | None:
    """The detection a call asked for, or None when it asked for none.

    `detection_delay_s`: how long this number's far end takes to be recognised
    (None: the whole window). Past the window Plivo gives up listening, and a
    machine it did not recognise in time is reported as nothing at all.
    """
    mode = params.get("machine_detection")
    if not mode:
        return None
    window_s = int(params.get("machine_detection_time") or DEFAULT_DETECTION_MS) / 1000
    took_s = window_s if detection_delay_s is None else detection_delay_s
    return Detection(
        synchronous=not params.get("machine_detection_url"),
        hang_up=mode == "hangup",
        machine=is_machine and took_s <= window_s,
        after_s=min(took_s, window_s),
    )


def machine_report(
    *,
    call_uuid: str,
    request_uuid: str,
    from_number: str,
    to_number: str,
    hang_up: bool,
) -> dict[str, str]:
    """The form Plivo posts to `machine_detection_url` when it finds a machine."""
    return {
        "From": from_number,
        "Machine": "true",
        "To": to_number,
        "RequestUUID": request_uuid,
        "ALegRequestUUID": request_uuid,
        "CallUUID": call_uuid,
        "IfMachine": "hangup" if hang_up else "continue",
        "Direction": "outbound",
        "ALegUUID": call_uuid,
        "Event": "MachineDetection",
        "CallStatus": "in-progress",
    }
