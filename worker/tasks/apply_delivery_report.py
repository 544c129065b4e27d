"""Apply a recorded Plivo delivery report to its notification (older hand-overs only).

Reports are now applied in batches from the report inbox, each in the
transaction that records it (worker.tasks.apply_delivery_reports). This task
stays registered because a broker may still hold messages naming it from
before that change; it applies the report the same way, and the
compare-and-set makes a report already applied a no-op here.
"""

from __future__ import annotations

import logging

from shared.core.db import session_scope
from shared.core.models import Event
from shared.notifications.delivery_reports import apply_recorded_report, hand_over_ended
from worker import context, enqueue, task_names
from worker.celery_app import app

log = logging.getLogger(__name__)


@app.task(name=task_names.APPLY_DELIVERY_REPORT)
def apply_delivery_report(event_id: int) -> str:
    """Apply the report stored as event `event_id`; safe to run twice."""
    with session_scope(context.database_url()) as session:
        event = session.get(Event, event_id)
        if event is None or event.notification_id is None:
            log.warning("delivery report event %s not found", event_id)
            return "missing"
        status = event.detail.get("Status")
        applied = apply_recorded_report(
            session, event.notification_id, dict(event.detail), event.at
        )
    hand_over_ended(applied.ended, enqueue.notification_ended)
    log.info(
        "delivery report %s for notification %s: %s (now %s)",
        status,
        applied.outcome.notification_id,
        applied.outcome.result,
        applied.outcome.state,
    )
    return applied.outcome.result
