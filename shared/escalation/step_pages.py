"""The pages of fired steps: one row per person and channel of each alert's step,
planned for all the alerts fired together in one INSERT."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shared.escalation.plan import StepPlan
from shared.escalation.quiet_hours import Hold, hold_for
from shared.escalation.step_events import held_row, nobody_on_call, step_fired
from shared.notifications.planning import PageRow, plan_notifications
from shared.routing.oncall_config import Contact, Policy


@dataclass(frozen=True)
class Planned:
    notification_id: int
    channel: str
    destination: str = ""  # the number: pages to one number fired together leave as one


@dataclass(frozen=True)
class StepAlert:
    """An alert whose step fired, and what its pages take from it."""

    alert_id: int
    severity: str  # a page that may wait is held through its person's quiet hours
    text_for: Callable[[Contact, str], str]  # an SMS's words, by person and channel


# Each alert's pages: (to hand over now, held by quiet hours).
StepPages = tuple[tuple[Planned, ...], tuple[Planned, ...]]


def plan_step_pages(
    session: Session,
    alerts: Sequence[StepAlert],
    policy: Policy,
    plan: StepPlan,
    now: datetime,
    events: list[dict[str, Any]],
) -> list[StepPages]:
    """Plan the pages of one step fired for each of `alerts` (an alert alone, or the
    alerts of a request started together at one position), in the order given.

    One notification row per person and channel of each alert's step (each at most
    once, by its unique key), all in one INSERT: a routing of 100 alerts took 100.
    A held row is due when the quiet hours end and was never handed over, so it is
    handed over then, as is any notification that comes due. The events (each page
    planned, any hold, the step fired, a gap in a rota) are added to `events` for
    the caller to write in one INSERT with those of the rest of its transaction.
    """
    wanted: list[tuple[StepAlert, Contact, Hold | None]] = []
    rows: list[PageRow] = []
    for alert in alerts:
        for item in plan.notifications:
            channel = item.channel.value
            hold = hold_for(item.contact, alert.severity, now)
            wanted.append((alert, item.contact, hold))
            rows.append(
                PageRow(
                    alert_id=alert.alert_id,
                    channel=channel,
                    destination=item.contact.phone,
                    text=alert.text_for(item.contact, channel),
                    step=plan.position.step,
                    round=plan.position.round,
                    contact=item.contact.name,
                    due_at=hold.until if hold else now,
                    enqueued_at=None if hold else now,
                )
            )
    ids = plan_notifications(session, rows, events)
    pages: dict[int, tuple[list[Planned], list[Planned]]] = {a.alert_id: ([], []) for a in alerts}
    for (alert, contact, hold), row, notification_id in zip(wanted, rows, ids, strict=True):
        if notification_id is None:
            continue
        planned, held = pages[alert.alert_id]
        if hold is None:
            planned.append(Planned(notification_id, row.channel, contact.phone))
        else:
            events.append(held_row(alert.alert_id, notification_id, contact, hold))
            held.append(Planned(notification_id, row.channel))
    for alert in alerts:
        _step_events(alert.alert_id, policy, plan, pages[alert.alert_id], events)
    return [(tuple(pages[a.alert_id][0]), tuple(pages[a.alert_id][1])) for a in alerts]


def _step_events(
    alert_id: int,
    policy: Policy,
    plan: StepPlan,
    pages: tuple[list[Planned], list[Planned]],
    events: list[dict[str, Any]],
) -> None:
    """The step fired, and a gap in a rota it found (moved on when it paged nobody)."""
    events.append(step_fired(alert_id, policy, plan))
    if plan.empty_schedules:
        moved_on = not (pages[0] or pages[1])
        events.append(nobody_on_call(alert_id, policy, plan, moved_on=moved_on))
