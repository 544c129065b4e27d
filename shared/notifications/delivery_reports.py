"""Applying Plivo delivery reports for pages: the one place a report moves a text.

The receiver only verifies a report and leaves it in the report inbox
(`inbox_entry`, shared.notifications.report_inbox); a worker applies a batch of
them in one transaction (`apply_inbox_entries`). Each report is
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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.enums import Channel
from shared.core.events import event_row, record_event, record_unique_events
from shared.core.metrics import bounded_label
from shared.core.models import Notification
from shared.notifications.accepted_sends import KIND as ACCEPTED
from shared.notifications.accepted_sends import (
    AcceptedSend,
    is_row_id,
    read_accepted,
    record_accepted,
    zoned_time,
)
from shared.notifications.bundle_members import members_of, remember_members
from shared.notifications.paging_metrics import count_sms_outcome, observe_reached
from shared.notifications.state import PLIVO_SMS_STATUS, NotificationState
from shared.notifications.store import (
    ReportOutcome,
    apply_sms_report,
    find_notification,
    plan_sms_retry,
)

log = logging.getLogger(__name__)

# A report that says the text never reached its person: retry or move the chain on.
ENDED_UNREACHED = frozenset({NotificationState.FAILED, NotificationState.UNDELIVERED})

# A report's phone numbers: never kept in the inbox (nor in the event log, see
# sms_report_event); the notification already knows whom it texted.
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


def apply_inbox_entries(
    session: Session, entries: Sequence[InboxReport | AcceptedSend]
) -> list[EntryResult]:
    """Apply the inbox's entries in order in the caller's transaction, one result each.

    Each report is found, recorded once and applied; a report naming no text
    we sent, or a call (an SMS report never moves a call), is kept as
    `callback.unknown_message`; one recorded before is a duplicate. A send
    Plivo accepted is recorded (outcome SEND_ACCEPTED: not a report).

    The texts the entries name are read in one SELECT, and each run of reports
    is recorded in one INSERT. A run's reports are found before any of them
    moves a text, so whatever may give a text its uuid (an accepted send, a
    report that teaches it) comes before a report found only by its uuid: both
    end a run. In a storm of reports, mostly Plivo's repeats, a batch costs a
    few statements instead of two or more per report.
    """
    _read_texts(session, entries)
    results: list[EntryResult] = []
    for run in _runs(entries):
        if isinstance(run, AcceptedSend):
            record_accepted(session, run)
            results.append(EntryResult(SEND_ACCEPTED, "queued"))
        else:
            results.extend(_apply_run(session, run))
    return results


def apply_inbox_report(session: Session, report: InboxReport | AcceptedSend) -> EntryResult:
    """One entry applied alone (`apply_inbox_entries` of one)."""
    return apply_inbox_entries(session, [report])[0]


def _runs(
    entries: Sequence[InboxReport | AcceptedSend],
) -> Iterator[AcceptedSend | list[InboxReport]]:
    """The entries in order: each accepted send alone, the reports between them
    together, except that a report whose callback URL named no text starts a run."""
    run: list[InboxReport] = []
    for entry in entries:
        if run and (isinstance(entry, AcceptedSend) or entry.notification_id is None):
            yield run
            run = []
        if isinstance(entry, AcceptedSend):
            yield entry
        else:
            run.append(entry)
    if run:
        yield run


def _read_texts(session: Session, entries: Sequence[InboxReport | AcceptedSend]) -> None:
    """Load the texts the entries name into the session, and their bundles' members: a
    SELECT each, where each report's lookup (`find_notification`), move and members
    would otherwise read their own."""
    ids = {entry.notification_id for entry in entries if entry.notification_id is not None}
    if ids:
        session.scalars(select(Notification).where(Notification.id.in_(ids))).all()
        remember_members(session, ids)


def _apply_run(session: Session, reports: Sequence[InboxReport]) -> list[EntryResult]:
    texts = [_text_of(session, report) for report in reports]
    found = [
        (text, report.params)
        for text, report in zip(texts, reports, strict=True)
        if text is not None
    ]
    first_seen = iter(record_sms_reports(session, found))
    results = []
    for text, report in zip(texts, reports, strict=True):
        status = report.params.get("Status", "").strip().lower() or "missing"
        label = bounded_label(status, PLIVO_SMS_STATUS)  # a sender must not grow the metric
        if text is None:
            uuid = report.params.get("MessageUUID")
            detail = {"MessageUUID": uuid, "Status": status}
            record_event(session, "callback.unknown_message", detail=detail)
            log.warning("delivery report for unknown message %s", uuid or None)
            results.append(EntryResult("unknown_message", label))
        elif next(first_seen) is None:
            results.append(EntryResult("duplicate", label))
        else:
            applied = apply_recorded_report(session, text.id, report.params, report.received_at)
            results.append(EntryResult("recorded", label, applied.ended))
    return results


def _text_of(session: Session, report: InboxReport) -> Notification | None:
    """The text a report is about: by the id in its callback URL, else by Plivo's uuid."""
    uuid = report.params.get("MessageUUID") or None
    found = find_notification(session, notification_id=report.notification_id, provider_uuid=uuid)
    if found is not None and found.channel != Channel.SMS:
        log.warning("delivery report for notification %s, not an SMS", found.id)
        return None
    return found


def sms_report_event(notification: Notification, params: dict[str, str]) -> dict[str, Any]:
    """The event that records a delivery report, keyed so a repeat is refused:
    Plivo may post the same report more than once, and (uuid, status) identifies it.
    Its numbers are left out: the notification already knows whom it texted."""
    uuid = params.get("MessageUUID", "")
    status = params.get("Status", "").strip().lower()
    return event_row(
        "callback.sms_status",
        alert_id=notification.alert_id,
        notification_id=notification.id,
        detail={k: v for k, v in params.items() if k not in NUMBER_FIELDS},
        dedup_key=f"sms-status:{uuid or notification.id}:{status}",
    )


def record_sms_reports(
    session: Session, reports: Sequence[tuple[Notification, dict[str, str]]]
) -> list[int | None]:
    """Log each delivery report once, in one statement: for each, its event's id, or
    None when it was seen before (in an earlier batch, or earlier in this one)."""
    rows = [sms_report_event(notification, params) for notification, params in reports]
    new = record_unique_events(session, rows)
    return [new.pop(row["dedup_key"], None) for row in rows]
