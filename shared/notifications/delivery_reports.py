"""Applying Plivo delivery reports for pages: the one place a report moves a text.

The receiver only verifies a report and leaves it in the report inbox
(`inbox_entry`, shared.notifications.report_inbox); a worker applies a batch of
them in one transaction (`apply_inbox_report` per report). Each report is
recorded and applied in the same transaction, so the record and the move
commit together: a report is applied exactly when it is first recorded, and a
duplicate (its record refused), whether Plivo posted it twice or a drainer
died before trimming what it had applied, moves nothing. Only a text that
ended unreached with no retry needs a worker afterwards (the chain moves on);
the caller hands those over once its transaction has committed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from shared.core.enums import Channel
from shared.core.events import record_event
from shared.core.metrics import bounded_label
from shared.notifications.accepted_sends import KIND as ACCEPTED
from shared.notifications.accepted_sends import (
    AcceptedSend,
    is_row_id,
    read_accepted,
    record_accepted,
    zoned_time,
)
from shared.notifications.paging_metrics import count_sms_outcome, observe_reached
from shared.notifications.state import PLIVO_SMS_STATUS, NotificationState
from shared.notifications.store import (
    ReportOutcome,
    apply_sms_report,
    find_notification,
    members_of,
    plan_sms_retry,
    record_sms_report,
)

log = logging.getLogger(__name__)

# A report that says the text never reached its person: retry or move the chain on.
ENDED_UNREACHED = frozenset({NotificationState.FAILED, NotificationState.UNDELIVERED})

# A report's phone numbers: never kept in the inbox (nor in the event log, see
# record_sms_report); the notification already knows whom it texted.
NUMBER_FIELDS: Final = frozenset({"To", "From"})
# EntryResult.outcome of a send Plivo accepted: recorded, but not a delivery report.
SEND_ACCEPTED: Final = "send_accepted"


@dataclass(frozen=True)
class AppliedReport:
    """What applying one report did, and which notifications' chains must move on."""

    outcome: ReportOutcome
    ended: tuple[int, ...] = ()


def apply_recorded_report(
    session: Session, notification_id: int, report: dict[str, str], reported_at: datetime
) -> AppliedReport:
    """Apply a report already recorded in this session to `notification_id` and its bundle.

    Where the report moved the text: its outcome is counted (once the session
    commits), a delivery's latency observed from `reported_at`, and a text that
    ended unreached gets a retry when the carrier error is temporary. `ended`
    lists the lead and members that ended unreached with no retry: each alert
    of a bundle follows its own chain, and those chains must move on. Safe to
    repeat: the move is a compare-and-set that never goes backwards.
    """
    outcome = apply_sms_report(session, notification_id, report)
    if outcome.result != "applied":
        return AppliedReport(outcome)
    count_sms_outcome(session, outcome.state, report.get("ErrorCode"))
    if outcome.state == NotificationState.DELIVERED:
        observe_reached(session, notification_id, Channel.SMS, reported_at)
    if outcome.state not in ENDED_UNREACHED:
        return AppliedReport(outcome)
    ended = tuple(
        nid
        for nid in [notification_id, *members_of(session, notification_id)]
        if plan_sms_retry(session, nid, report) is None
    )
    return AppliedReport(outcome, ended)


def hand_over_ended(ended: Iterable[int], notification_ended: Callable[[int], bool]) -> None:
    """Enqueue the follow-up of each notification that ended unreached, after the commit.

    No sweep looks for a failed text whose chain never moved on: if the broker
    refuses, the chain moves on only when its step's wait runs out. That is
    logged as an error, so a lost hand-over is seen rather than silently late.
    """
    for nid in ended:
        if not notification_ended(nid):
            log.error(
                "notification %s ended unreached but its follow-up could not be enqueued "
                "(broker unavailable): its chain moves on only when the step's wait runs out",
                nid,
            )


@dataclass(frozen=True)
class InboxReport:
    """One report as the receiver left it in the inbox."""

    params: dict[str, str]
    notification_id: int | None  # from the callback URL (`?n=`), when it named one
    received_at: datetime  # when the receiver took it: a delivery's latency ends here


@dataclass(frozen=True)
class EntryResult:
    """What applying one inbox report did: the metric's outcome and status, chains to move on."""

    outcome: str  # recorded, duplicate or unknown_message (or SEND_ACCEPTED)
    status: str  # Plivo's status, bounded for the metric label
    ended: tuple[int, ...] = ()


def inbox_entry(params: dict[str, str], notification_id: int | None, received_at: datetime) -> str:
    """The JSON the receiver pushes for a verified report: everything but its numbers."""
    kept = {key: value for key, value in params.items() if key not in NUMBER_FIELDS}
    return json.dumps(
        {
            "notification_id": notification_id,
            "received_at": received_at.isoformat(),
            "params": kept,
        },
        separators=(",", ":"),
    )


def read_inbox_entry(raw: bytes | str) -> InboxReport | AcceptedSend:
    """An entry read back: a report, or a send Plivo accepted (shared.notifications.
    accepted_sends); ValueError (with a reason, never the content) when malformed."""
    try:
        entry: Any = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("not JSON") from None
    if not isinstance(entry, dict):
        raise ValueError("not an object")
    if entry.get("kind") == ACCEPTED:
        return read_accepted(entry)
    params, nid, at = entry.get("params"), entry.get("notification_id"), entry.get("received_at")
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and "\x00" not in k + v for k, v in params.items()
    ):
        raise ValueError("params are not text fields")
    if nid is not None and not is_row_id(nid):
        raise ValueError("notification_id is not an id")
    return InboxReport(params, nid, zoned_time(at, "received_at"))


def apply_inbox_report(session: Session, report: InboxReport | AcceptedSend) -> EntryResult:
    """Find the report's text, record the report once and apply it, in the caller's transaction.

    A report naming no text we sent, or a call (an SMS report never moves a
    call), is kept as `callback.unknown_message`; one recorded before is a duplicate.
    A send Plivo accepted is recorded (outcome SEND_ACCEPTED: not a report).
    """
    if isinstance(report, AcceptedSend):
        record_accepted(session, report)
        return EntryResult(SEND_ACCEPTED, "queued")
    params = report.params
    status = params.get("Status", "").strip().lower() or "missing"
    label = bounded_label(status, PLIVO_SMS_STATUS)  # a sender must not grow the metric
    uuid = params.get("MessageUUID") or None
    notification = find_notification(
        session, notification_id=report.notification_id, provider_uuid=uuid
    )
    if notification is not None and notification.channel != Channel.SMS:
        log.warning("delivery report for notification %s, not an SMS", notification.id)
        notification = None
    if notification is None:
        detail = {"MessageUUID": params.get("MessageUUID"), "Status": status}
        record_event(session, "callback.unknown_message", detail=detail)
        log.warning("delivery report for unknown message %s", uuid)
        return EntryResult("unknown_message", label)
    if record_sms_report(session, notification, params) is None:
        return EntryResult("duplicate", label)
    applied = apply_recorded_report(session, notification.id, params, report.received_at)
    return EntryResult("recorded", label, applied.ended)
