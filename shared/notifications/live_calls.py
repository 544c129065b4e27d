"""Which calls of a closed alert are still live, and how to end each one.

Pure. An acknowledgement stops every page not yet sent, but a call already
placed keeps ringing until someone ends it at Plivo, which knows a call by
two names: before it is answered only its request uuid (from the create-call
answer, stored as the notification's provider_uuid) reaches it, through
`DELETE /Request/`; once answered its call uuid (learned from the answer
callback) reaches it, through `DELETE /Call/`.

A call is not ended while another alert it speaks for (a bundle) is still
open: the person is still needed for that one. Nor is the call on which the
acknowledgement was pressed: it is saying "acknowledged" and hangs up by
itself. What cannot be ended yet (the
create-call request still in flight, or a request uuid that no longer rang
while the answer callback that names the call is on its way) is looked at
again a little later, for a bounded time.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.notifications.state import LIVE, NotificationState

# Checks again soon after the close (an ack is when silence matters), then
# less often, and not at all once the close is this old: by then every call
# placed before it has rung out by itself.
FIRST_RECHECK_S = 0.5
MAX_RECHECK_S = 5.0
RECHECK_WINDOW_S = 120.0


class Method(StrEnum):
    """The Live Call API request that ends a call in its current phase."""

    HANG_UP = "hang_up"  # DELETE /Call/{call_uuid}/: answered
    CANCEL_REQUEST = "cancel_request"  # DELETE /Request/{request_uuid}/: queued or ringing


@dataclass(frozen=True)
class PlacedCall:
    """One call as the database knows it: a voice notification that carries its own call
    (a bundle lead, or a single notification), with what its bundle's alerts are."""

    notification_id: int
    state: str
    destination: str
    provider: str | None  # the account that placed it: primary | backup
    request_uuid: str | None  # the notification's provider_uuid
    call_uuid: str | None  # from the answer callback, once answered
    alerts_open: bool  # an alert this call speaks for is still triggered
    acknowledged_on_it: bool = False  # its callee pressed 1: the call ends by itself


@dataclass(frozen=True)
class EndCall:
    """One request to make: end `uuid` with `method` at `provider`'s account."""

    notification_id: int
    method: Method
    uuid: str
    provider: str | None
    destination: str


def _is_live(call: PlacedCall) -> bool:
    """Placed or being placed, not yet over, and no longer needed by any of its alerts."""
    try:
        state = NotificationState(call.state)
    except ValueError:
        return False
    placed = state in LIVE and state is not NotificationState.PENDING
    return placed and not call.alerts_open and not call.acknowledged_on_it


def _end_for(call: PlacedCall) -> EndCall | None:
    if call.call_uuid:
        method, uuid = Method.HANG_UP, call.call_uuid
    elif call.request_uuid:
        method, uuid = Method.CANCEL_REQUEST, call.request_uuid
    else:
        return None
    return EndCall(call.notification_id, method, uuid, call.provider, call.destination)


def calls_to_end(calls: Iterable[PlacedCall], *, settled: Collection[str]) -> list[EndCall]:
    """The requests that end every live call not needed any more, one per call.

    `settled`: uuids already ended, or already found over, by an earlier run:
    asking again would change nothing, so a repeated run sends nothing.
    """
    ends = [end for call in calls if _is_live(call) and (end := _end_for(call)) is not None]
    return [end for end in ends if end.uuid not in settled]


def recheck_in(
    calls: Iterable[PlacedCall],
    *,
    ended: Collection[str],
    closed_at: datetime,
    now: datetime,
) -> float | None:
    """Seconds until the calls should be looked at again; None when nothing is left to do.

    A live call counts as done once one of its uuids was ended by us (its
    hangup callback will close the notification). Any other live call (in
    flight, a request that failed, a request uuid found over while the call
    may have been answered) is looked at again while the close is recent.
    """
    elapsed = (now - closed_at).total_seconds()
    if elapsed >= RECHECK_WINDOW_S:
        return None
    waiting = [
        call
        for call in calls
        if _is_live(call) and not ({call.call_uuid, call.request_uuid} & set(ended))
    ]
    if not waiting:
        return None
    return min(MAX_RECHECK_S, max(FIRST_RECHECK_S, elapsed / 4))
