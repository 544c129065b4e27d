"""Apply a recorded Plivo delivery report to its notification."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.enums import Channel
from shared.core.models import Event
from shared.notifications.paging_metrics import count_sms_outcome, observe_reached
from shared.notifications.state import NotificationState
from shared.notifications.store import ReportOutcome, apply_sms_report, members_of, plan_sms_retry
from worker import context, enqueue, task_names
from worker.celery_app import app

log = logging.getLogger(__name__)

# A report that says the text never reached its person: retry or move the chain on.
ENDED_UNREACHED = (NotificationState.FAILED, NotificationState.UNDELIVERED)


@app.task(name=task_names.APPLY_DELIVERY_REPORT)
def apply_delivery_report(event_id: int) -> str:
    """The web receiver stored the report as an event; this moves the state.

    Safe to run twice: the move is a compare-and-set that never goes
    backwards, so a second run finds nothing to do.
    """
    with session_scope(context.database_url()) as session:
        event = session.get(Event, event_id)
        if event is None or event.notification_id is None:
            log.warning("delivery report event %s not found", event_id)
            return "missing"
        outcome = apply_sms_report(session, event.notification_id, dict(event.detail))
        if outcome.result == "applied":
            _observe(session, event, outcome)
        ended: list[int] = []
        if outcome.result == "applied" and outcome.state in ENDED_UNREACHED:
            # Each alert of a bundle follows its own chain: a retry when the
            # carrier error is temporary, else the chain moves on.
            for nid in [event.notification_id, *members_of(session, event.notification_id)]:
                if plan_sms_retry(session, nid, event.detail) is None:
                    ended.append(nid)
    for nid in ended:
        enqueue.notification_ended(nid)
    log.info(
        "delivery report %s for notification %s: %s (now %s)",
        event.detail.get("Status"),
        outcome.notification_id,
        outcome.result,
        outcome.state,
    )
    return outcome.result


def _observe(session: Session, event: Event, outcome: ReportOutcome) -> None:
    """The report moved the message (once per message and state): how it ended,
    and for the delivered report, how long it took since Plivo took it."""
    count_sms_outcome(session, outcome.state, event.detail.get("ErrorCode"))
    if outcome.state == NotificationState.DELIVERED and event.notification_id is not None:
        observe_reached(session, event.notification_id, Channel.SMS, event.at)
