"""The events a fired step writes: built here, written by the engine in one INSERT
with the step's pages (shared.escalation.engine)."""

from __future__ import annotations

import logging
from typing import Any

from shared.core.events import event_row
from shared.core.metrics import SCHEDULE_GAPS_HIT
from shared.escalation.plan import StepPlan
from shared.escalation.quiet_hours import Hold
from shared.routing.oncall_config import Contact, Policy

# The engine's logger: a gap in the rota is the engine's news wherever the row is built.
log = logging.getLogger("shared.escalation.engine")


def nobody_on_call(
    alert_id: int, policy: Policy, plan: StepPlan, *, moved_on: bool
) -> dict[str, Any]:
    """A schedule had nobody on call when its step fired: a gap in the rota, logged and
    counted here; its event is returned for the caller to write with the step's."""
    row = event_row(
        "escalation.nobody_on_call",
        alert_id,
        None,
        {
            "policy": policy.name,
            "step": plan.position.step,
            "schedules": list(plan.empty_schedules),
            "moved_on": moved_on,
        },
    )
    for schedule in plan.empty_schedules:
        SCHEDULE_GAPS_HIT.labels(schedule=schedule).inc()
    log.error(
        "alert %s: nobody on call in schedule %s at step %s of %s%s",
        alert_id,
        ", ".join(plan.empty_schedules),
        plan.position.step,
        policy.name,
        "; the chain moves on at once" if moved_on else "",
    )
    return row


def held_row(alert_id: int, notification_id: int, contact: Contact, hold: Hold) -> dict[str, Any]:
    """The event the alert's listing and view read to show the page as held, and until when."""
    return event_row(
        "notification.quiet_hours",
        alert_id,
        notification_id,
        {
            "contact": contact.name,
            "until": hold.until.isoformat(),
            "time_zone": hold.time_zone,
            "local_until": hold.local_until,
            "text": hold.text,
        },
    )


def step_fired(alert_id: int, policy: Policy, plan: StepPlan) -> dict[str, Any]:
    """The event of a step fired: whom it paged and when the next is due."""
    return event_row(
        "escalation.step_fired",
        alert_id,
        None,
        {
            "policy": policy.name,
            "step": plan.position.step,
            "round": plan.position.round,
            "targets": list(dict.fromkeys(item.contact.name for item in plan.notifications)),
            "next_at": plan.due_at.isoformat(),
        },
    )
