"""An alert's escalation timeline as the status page shows it, from the event log.

Pure: events and notifications in, rows out. Each row says when, who was
paged and how (the notification's contact, masked number and channel), what
happened, and what Plivo said (its status, error code or hang-up cause) in a
column of its own, so a reader can scan down what the carrier reported. Every
free text passes through the project's number masking: a reason or an
acknowledger may hold a phone number, and a status page is read on shared
screens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.core.enums import Channel
from shared.core.phone import mask, mask_numbers_in
from shared.incident_bridge.view import bridge_line

Detail = Mapping[str, Any]


@dataclass(frozen=True)
class TimelineRow:
    """One event of an alert, ready to print."""

    at: datetime
    offset_s: float  # since the alert's first event
    kind: str
    who: str  # "bob +1*******12", or "" when no one person is concerned
    channel: str  # "sms", "voice" or ""
    what: str
    plivo: str  # what Plivo reported, or ""


@dataclass(frozen=True)
class Paged:
    """Who a notification went to, for the rows of its events."""

    contact: str
    destination: str
    channel: str

    @property
    def label(self) -> str:
        return f"{self.contact} {mask(self.destination)}".strip()


def _channel_word(channel: object) -> str:
    return "call" if channel == Channel.VOICE.value else "SMS"


def _plivo_sms(detail: Detail) -> str:
    status = str(detail.get("Status") or "?")
    code = detail.get("ErrorCode")
    return f"{status}, error {code}" if code else status


def _plivo_call(detail: Detail) -> str:
    status = str(detail.get("CallStatus") or "?")
    cause = detail.get("HangupCause")
    return f"{status} ({cause})" if cause else status


def _notification_move(kind: str, detail: Detail) -> tuple[str, str]:
    """`notification.<state>`: the new state, and the Plivo part of its reason."""
    state = kind.split(".", 1)[1]
    if state == "planned":
        return f"{_channel_word(detail.get('channel'))} planned", ""
    if state == "sending":
        return f"{_channel_word(detail.get('channel'))} handed to Plivo", ""
    if state == "queued" and detail.get("request_uuid"):
        return "call requested", f"ringing, request {detail['request_uuid']}"
    if state == "queued" and detail.get("message_uuid"):
        return "message accepted", f"queued, message {detail['message_uuid']}"
    reason = str(detail.get("reason") or "")
    plivo = ""
    if reason.startswith(("plivo", "bundle: plivo", "not reached", "call")):
        plivo = reason.removeprefix("bundle: ").removeprefix("plivo status ")
    code = detail.get("error_code")
    if code:
        plivo = f"{plivo}, error {code}" if plivo else f"error {code}"
    return (state if plivo or not reason else f"{state}: {reason}"), plivo


def _step(detail: Detail) -> str:
    step = int(detail.get("step", 0)) + 1
    round_ = int(detail.get("round", 0))
    again = f", round {round_ + 1}" if round_ else ""
    targets = ", ".join(str(t) for t in detail.get("targets", [])) or "nobody"
    return f"step {step} of {detail.get('policy')}{again}: paging {targets}"


_FIXED: dict[str, Callable[[Detail], tuple[str, str]]] = {
    "alert.accepted": lambda d: (f"alert accepted ({d.get('severity')})", ""),
    "alert.occurrence": lambda d: ("repeated by its source", ""),
    "alert.unrouted": lambda d: (f"nobody to page: {d.get('reason')}", ""),
    "alert.first_page": lambda d: ("first page accepted by Plivo", ""),
    "alert.acknowledged": lambda d: (f"ACKNOWLEDGED by {d.get('by')} via {d.get('via')}", ""),
    "alert.resolved": lambda d: (f"resolved by {d.get('by')} via {d.get('via')}", ""),
    "escalation.step_fired": lambda d: (_step(d), ""),
    "escalation.hurried": lambda d: (f"moving on at once: {d.get('reason')}", ""),
    "escalation.exhausted": lambda d: (
        f"policy {d.get('policy')} ran out after {d.get('rounds')} round(s): nobody acknowledged",
        "",
    ),
    "notifications.cancelled": lambda d: (f"{d.get('count')} notification(s) cancelled", ""),
    "callback.sms_status": lambda d: ("delivery report", _plivo_sms(d)),
    "call.answered": lambda d: ("call answered", "answered"),
    "call.machine": lambda d: ("answering machine", "machine detected"),
    "call.keypress": lambda d: (f"key pressed: {d.get('digit')}", ""),
    "call.hangup": lambda d: ("call ended", _plivo_call(d)),
}


def describe(kind: str, detail: Detail) -> tuple[str, str]:
    """(what happened, what Plivo said) for one event, numbers masked."""
    bridged = bridge_line(kind, detail)
    if kind in _FIXED:
        what, plivo = _FIXED[kind](detail)
    elif bridged is not None:
        what, plivo = bridged, ""
    elif kind.startswith("notification."):
        what, plivo = _notification_move(kind, detail)
    else:
        what, plivo = kind, ""
    return mask_numbers_in(what), mask_numbers_in(plivo)


def timeline_rows(
    events: Iterable[tuple[datetime, str, int | None, Detail]],
    paged: Mapping[int, Paged],
) -> list[TimelineRow]:
    """Rows for (at, kind, notification id, detail) events in the order they happened;
    `paged` maps a notification id to whom it went."""
    rows: list[TimelineRow] = []
    started: datetime | None = None
    for at, kind, notification_id, detail in events:
        started = started or at
        what, plivo = describe(kind, detail)
        target = paged.get(notification_id) if notification_id is not None else None
        rows.append(
            TimelineRow(
                at=at,
                offset_s=(at - started).total_seconds(),
                kind=kind,
                who=mask_numbers_in(target.label) if target else "",
                channel=target.channel if target else str(detail.get("channel") or ""),
                what=what,
                plivo=plivo,
            )
        )
    return rows
