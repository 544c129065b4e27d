"""Route an accepted alert to its escalation policy and fire the first step at once."""

from __future__ import annotations

import logging

from shared.alerts.maintenance_store import hold_or_downgrade
from shared.alerts.store import mark_dispatched
from shared.core.db import session_scope
from shared.core.enums import AlertStatus
from shared.core.events import record_event
from shared.core.metrics import ALERTS_UNROUTED
from shared.core.models import Alert, utcnow
from shared.escalation.engine import start
from shared.escalation.plan import START
from shared.routing.route import route_alert
from worker import context, task_names
from worker.celery_app import app
from worker.escalation_runner import fire_in, hand_over_fired

log = logging.getLogger(__name__)


@app.task(name=task_names.DISPATCH_ALERT)
def dispatch_alert(alert_id: int) -> str:
    """Choose the policy, put the alert on its chain, fire step 0 without waiting for a tick.

    The chain is frozen onto the alert as it starts: later edits of the
    on-call file change new alerts only. Running twice is harmless:
    `mark_dispatched` and `start` are compare-and-sets, and firing a step is one too.
    A running maintenance window that matches holds the alert (nothing is routed
    until the tick releases it) or lowers its severity before routing.
    """
    # Routing and planning are redone if lost with the database (nothing was sent yet):
    # no disk flush of their own; the claim's durable commit flushes them with it.
    with session_scope(context.database_url(), flush_to_disk=False) as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            log.warning("dispatch for unknown alert %s ignored", alert_id)
            return "unknown"
        if not mark_dispatched(session, alert_id) or alert.status != AlertStatus.TRIGGERED:
            return "already"
        if hold_or_downgrade(session, alert, context.settings().config_file, utcnow()):
            return "held"  # the tick releases it when its maintenance window is over
        routed = route_alert(alert, context.settings().config_file)
        if routed is None:
            record_event(
                session,
                "alert.unrouted",
                alert_id=alert_id,
                detail={"reason": "no recipients and no matching route"},
            )
            ALERTS_UNROUTED.inc()
            log.error("alert %s has no recipients and no route: nobody will be paged", alert_id)
            return "unrouted"
        start(session, alert_id, routed.policy, utcnow(), snapshot=routed.snapshot)
        # Planned in the same transaction as the start: one commit before the first page.
        fired = fire_in(session, alert_id, START)
    result = hand_over_fired(alert_id, fired)
    return "fired" if result.fired else "not-fired"
