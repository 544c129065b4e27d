"""Route accepted alerts to their escalation policies and fire their first steps at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from shared.alerts.maintenance import ActiveRule
from shared.alerts.maintenance_store import hold_or_downgrade, running_rules
from shared.alerts.store import claim_routings
from shared.core.enums import AlertStatus
from shared.core.events import record_event
from shared.core.metrics import ALERTS_UNROUTED
from shared.core.models import Alert, utcnow
from shared.escalation.engine import FireResult
from shared.escalation.plan import START
from shared.routing.route import Routed, route_alert
from worker import context, task_names
from worker.celery_app import app
from worker.escalation_runner import Fired, fire_in, fire_together, hand_over_all, plan_and_claim

log = logging.getLogger(__name__)

# A plan for plan_and_claim: routes and fires in the given transaction, events to the list.
RoutingPlan = Callable[[Session, list[dict[str, Any]]], list[tuple[int, Fired | None]]]


@app.task(name=task_names.DISPATCH_ALERT)
def dispatch_alert(alert_id: int) -> str:
    """One alert: routed and paged as `dispatch_alerts` does for several."""
    return dispatch_alerts([alert_id])[0]


@app.task(name=task_names.DISPATCH_ALERTS)
def dispatch_alerts(alert_ids: list[int]) -> list[str]:
    """Choose each alert's policy, put it on its chain, fire step 0 without waiting for a tick.

    Alerts that arrived in one request (an Alertmanager group) are routed in one
    transaction and handed over together: a person paged for three of them gets
    one message naming all three, not one now and the other two a bundle window
    later, and no wait is added for it.

    The chain is frozen onto the alert as it starts: later edits of the
    on-call file change new alerts only. Running twice is harmless:
    `claim_routings` and `start` are compare-and-sets, and firing a step is one too.
    A running maintenance window that matches holds the alert (nothing is routed
    until the tick releases it) or lowers its severity before routing.
    """
    outcomes: list[str] = []
    # Routing, planning and the first page's claim in one transaction (plan_and_claim).
    fired, first = plan_and_claim(routing_of(alert_ids, outcomes))
    return task_outcomes(outcomes, hand_over_all(fired, first))


def routing_of(alert_ids: list[int], outcomes: list[str]) -> RoutingPlan:
    """The routing of alerts that arrived together, as a plan for `plan_and_claim` (or, in
    a receiver that stores and routes them in one transaction, `plan_and_claim_in`);
    each alert's outcome is appended to `outcomes`."""

    def route_and_plan_all(
        session: Session, events: list[dict[str, Any]]
    ) -> list[tuple[int, Fired | None]]:
        rules = running_rules(session, context.settings().config_file, utcnow())
        # A group's alerts are claimed in one statement, started on their chains in
        # one per chain, their pages planned in one, and their events written in one.
        claimed = claim_routings(session, alert_ids)
        routes: list[tuple[int, Routed]] = []
        for alert_id in alert_ids:
            alert = claimed.pop(alert_id, None)  # an id twice: the second is "already"
            outcome, routed = _route(session, alert_id, alert, rules)
            outcomes.append(outcome)
            if routed is not None:
                routes.append((alert_id, routed))
        together = fire_together(session, routes, events)
        # A lone alert is started by its own firing; events are written with the
        # first page's claim (plan_and_claim).
        return [
            (
                alert_id,
                together[alert_id]
                if alert_id in together
                else fire_in(session, alert_id, START, events, starting=routed),
            )
            for alert_id, routed in routes
        ]

    return route_and_plan_all


def task_outcomes(outcomes: list[str], handed_over: list[FireResult]) -> list[str]:
    """Each alert's outcome, a routed one as whether its first step fired."""
    results = iter(handed_over)
    return [
        ("fired" if next(results).fired else "not-fired") if outcome == "routed" else outcome
        for outcome in outcomes
    ]


def _route(
    session: Session,
    alert_id: int,
    alert: Alert | None,
    rules: list[ActiveRule] | None,
) -> tuple[str, Routed | None]:
    """Route one alert in the caller's transaction: its outcome, and its route when it is
    to be started on its chain ("routed").

    `alert`: the alert as its routing was claimed, None when it was not;
    `rules`: the maintenance rules running now.
    """
    if alert is None:
        if session.get(Alert, alert_id) is None:
            log.warning("dispatch for unknown alert %s ignored", alert_id)
            return "unknown", None
        return "already", None
    if alert.status != AlertStatus.TRIGGERED:
        return "already", None
    if hold_or_downgrade(session, alert, rules):
        return "held", None  # the tick releases it when its maintenance window is over
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
        return "unrouted", None
    # Started and its first step fired by one compare-and-set (fire_together, or the
    # firing's own for a lone alert), planned in the same transaction: one UPDATE of
    # the alert and one commit before the first page.
    return "routed", routed
