"""Delivery reports for notice SMS: found by batch and number, logged once, applied once.

A bulk request has one status URL for all its numbers, so the URL names the
batch (`?nb=`, shared.plivo.callback_urls) and the report's `MessageUUID`, or
its `To` within the batch when the report overtook our record of Plivo's
answer, names the delivery. The receiver logs each (uuid, status) once in the
event log (a report posted twice is one event) and applies it in the same
transaction: a notice's report starts nothing (no retry, no escalation), so
there is no follow-up for a worker, and at thousands of reports a minute one
transaction each is what the database can keep up with. The move is a
compare-and-set that never goes backwards, so reports arriving late, twice
or out of order change nothing they should not.

Progress reports (`queued`, `sent`) are answered without touching the
database (`not_recorded`): a 10,000-recipient notice brings 30,000 reports,
and only the 10,000 final ones say anything new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.core.events import record_event
from shared.core.models import NoticeDelivery
from shared.notices.delivery_state import (
    DeliveryState,
    is_final_report,
    sources_for,
    state_for_report,
)

REPORT_EVENT = "callback.notice_sms_status"
# Fields of a report kept in the event log: never the numbers.
_KEPT = ("MessageUUID", "Status", "ErrorCode", "Units", "TotalAmount", "PowerpackUUID")


def find_delivery(
    session: Session, *, batch_id: str, provider_uuid: str | None, to: str | None
) -> NoticeDelivery | None:
    """The delivery a report is about: by Plivo's uuid within the batch, else by its number."""
    if provider_uuid:
        found = session.scalars(
            select(NoticeDelivery).where(
                NoticeDelivery.batch_id == batch_id,
                NoticeDelivery.provider_uuid == provider_uuid,
            )
        ).first()
        if found is not None:
            return found
    if not to:
        return None
    number = "+" + to.strip().lstrip("+")
    found = session.scalars(
        select(NoticeDelivery).where(
            NoticeDelivery.batch_id == batch_id, NoticeDelivery.number == number
        )
    ).first()
    if found is None or (provider_uuid and found.provider_uuid not in (None, provider_uuid)):
        return None
    return found


def not_recorded(params: dict[str, str]) -> str | None:
    """Why a report is answered without touching the database, or None to record it.

    Only a final report (delivered, undelivered, failed) says something about
    a notice's delivery that Plivo's answer to the request did not already say
    (`queued`, with the uuid); `sent` (handed to the carrier) is not a state
    of ours. If that answer was lost, the claim is settled from Plivo's list
    (shared.notices.provider_match), not from progress reports.
    """
    status = params.get("Status", "")
    if state_for_report(status) is None:
        return "unknown_status"
    return None if is_final_report(status) else "progress"


def record_report(session: Session, delivery: NoticeDelivery, params: dict[str, str]) -> bool:
    """Log the report once; False when this (uuid, status) was seen before."""
    uuid = params.get("MessageUUID", "")
    status = params.get("Status", "").strip().lower()
    key = f"notice-sms-status:{uuid or delivery.id}:{status}"
    detail: dict[str, Any] = {k: params[k] for k in _KEPT if params.get(k)}
    detail.update({"delivery_id": delivery.id, "send_id": delivery.send_id})
    return record_event(session, REPORT_EVENT, detail=detail, dedup_key=key)


@dataclass(frozen=True, slots=True)
class Applied:
    result: str  # applied | stale | unknown_status | missing
    state: str | None = None


def apply_report(
    session: Session, delivery_id: int, params: dict[str, Any], now: datetime
) -> Applied:
    """Move the delivery as the report says: forward only, its uuid learnt if still unknown."""
    target = state_for_report(str(params.get("Status", "")))
    if target is None:
        return Applied("unknown_status")
    uuid = params.get("MessageUUID") or None
    if uuid:
        session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.id == delivery_id, NoticeDelivery.provider_uuid.is_(None))
            .values(provider_uuid=uuid)
        )
    values: dict[str, Any] = {"state": target.value, "updated_at": now}
    error = params.get("ErrorCode")
    if target is DeliveryState.FAILED and error:
        values["error_code"] = str(error)[:32]
    conditions = [
        NoticeDelivery.id == delivery_id,
        NoticeDelivery.state.in_([s.value for s in sources_for(target)]),
    ]
    if uuid:  # a report about another message to the same row moves nothing
        conditions.append(NoticeDelivery.provider_uuid == uuid)
    moved = session.execute(update(NoticeDelivery).where(*conditions).values(**values)).rowcount
    state = session.scalar(select(NoticeDelivery.state).where(NoticeDelivery.id == delivery_id))
    if state is None:
        return Applied("missing")
    return Applied("applied" if moved else "stale", state)


@dataclass(frozen=True, slots=True)
class Received:
    """What the receiver did with a report: `recorded` (logged and applied: `applied`
    says how), `duplicate` (seen before), or `unknown_message`."""

    outcome: str
    applied: Applied | None = None


def receive_report(
    session: Session, batch_id: str, params: dict[str, str], now: datetime
) -> Received:
    """Find a final report's delivery, log the report once and apply it."""
    uuid = params.get("MessageUUID") or None
    delivery = find_delivery(session, batch_id=batch_id, provider_uuid=uuid, to=params.get("To"))
    if delivery is None:
        record_event(
            session,
            "callback.unknown_message",
            detail={"MessageUUID": uuid, "Status": params.get("Status"), "notice_batch": batch_id},
        )
        return Received("unknown_message")
    if not record_report(session, delivery, params):
        return Received("duplicate")
    return Received("recorded", apply_report(session, delivery.id, params, now))
