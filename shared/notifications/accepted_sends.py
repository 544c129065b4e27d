"""A page Plivo accepted: recorded by the report inbox's drainer, in its batch.

Once Plivo has answered a text's request, what is left is bookkeeping: the
lead and its bundle move `sending -> queued` with Plivo's uuid, and the alert's
first page is observed. Done by the worker that sent the text, that was a write
transaction of its own per page, and on SQLite the worker waited for the write
lock after every request (a sixth of its time at 20 alerts/s) before it could
take the next alert. So the worker leaves the record in the report inbox, one
RPUSH, and the drainer applies it in the transaction that applies a batch of
delivery reports (worker.tasks.apply_delivery_reports).

Safe in every order: a report that overtakes the record moves the text
itself (its callback URL names the notification), and the record then moves
nothing; the drainer applying a record twice moves nothing the second time
and observes the first page once. A worker that dies between the request and
the push leaves the text `sending`, which the hand-over of sends reconciles
with Plivo as before: never sent twice. One whose record is in the inbox when
its worker dies is left to the drainer (worker.tasks.hand_over_sends).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from shared.notifications.paging_metrics import observe_first_pages
from shared.notifications.state import NotificationState
from shared.notifications.store import move_bundle

log = logging.getLogger(__name__)

KIND: Final = "accepted"
_LARGEST_ID: Final = 2**63


@dataclass(frozen=True)
class AcceptedSend:
    """Plivo accepted the request of `notification_id` (a bundle's lead) at `accepted_at`."""

    notification_id: int
    provider_uuid: str
    detail: dict[str, str]
    accepted_at: datetime


def accepted_entry(send: AcceptedSend) -> str:
    """The report inbox's entry for an accepted send."""
    return json.dumps(
        {
            "kind": KIND,
            "notification_id": send.notification_id,
            "provider_uuid": send.provider_uuid,
            "detail": send.detail,
            "accepted_at": send.accepted_at.isoformat(),
        },
        separators=(",", ":"),
    )


def read_accepted(entry: dict[str, Any]) -> AcceptedSend:
    """An accepted send read back from the inbox; ValueError naming what is wrong."""
    nid, uuid = entry.get("notification_id"), entry.get("provider_uuid")
    detail, at = entry.get("detail"), entry.get("accepted_at")
    if not is_row_id(nid):
        raise ValueError("notification_id is not an id")
    if not isinstance(uuid, str) or not uuid or "\x00" in uuid:
        raise ValueError("provider_uuid is not text")
    if not isinstance(detail, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in detail.items()
    ):
        raise ValueError("detail is not text fields")
    return AcceptedSend(nid, uuid, detail, zoned_time(at, "accepted_at"))


def is_row_id(value: object) -> bool:
    """An inbox entry's id field holds a database id (a bool or a float does not)."""
    return type(value) is int and 0 < value < _LARGEST_ID


def zoned_time(value: object, field: str) -> datetime:
    """An inbox entry's ISO time with its zone; ValueError naming `field` otherwise."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"{field} is not a time with its zone")
    return moment


def record_accepted(session: Session, send: AcceptedSend) -> bool:
    """Move the lead and its bundle to queued with Plivo's uuid and observe the alerts'
    first pages, in the caller's transaction; False when a report had moved it first."""
    accepted = move_bundle(
        session,
        send.notification_id,
        NotificationState.QUEUED,
        reason="plivo accepted",
        member_reason="bundle accepted by plivo",
        members_follow_only_a_moved_lead=False,
        detail=send.detail,
        provider_uuid=send.provider_uuid,
    )
    if not accepted.lead_moved:
        log.info("notification %s already advanced by a report", send.notification_id)
    observe_first_pages(session, send.notification_id, send.accepted_at)
    return accepted.lead_moved
