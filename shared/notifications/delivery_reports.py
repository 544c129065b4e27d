"""Applying a recorded Plivo delivery report: the one place a report moves a text.

The receiver applies a report in the transaction that records it, so the
record and the move commit together: a report is applied exactly when it is
recorded, and a duplicate (its record refused) moves nothing. Only a text that
ended unreached with no retry needs a worker afterwards (the chain moves on);
the caller hands those over once its transaction has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from shared.core.enums import Channel
from shared.notifications.paging_metrics import count_sms_outcome, observe_reached
from shared.notifications.state import NotificationState
from shared.notifications.store import ReportOutcome, apply_sms_report, members_of, plan_sms_retry

log = logging.getLogger(__name__)

# A report that says the text never reached its person: retry or move the chain on.
ENDED_UNREACHED = frozenset({NotificationState.FAILED, NotificationState.UNDELIVERED})


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
