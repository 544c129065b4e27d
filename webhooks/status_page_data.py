"""What the status page shows from the database: open alerts with their escalation
timelines, and the most recent notifications.

An alert whose incident bridge was opened has its bridge beside it
(webhooks.status_page_bridge): live or not, who is in it, the recordings.

Open alerts come from the same query as `alert-dispatch alerts` and
GET /api/v1/alerts (`shared.alerts.listing`), so the page, the CLI and scripts
never disagree on what is open. One more query fetches every shown alert's
notifications, and one per alert its latest events (bounded, as an alert
paging for days has thousands). Numbers are masked here, before anything
reaches a template.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.alerts.listing import AlertFilter, list_alerts
from shared.core.models import Alert, Event, Notification
from shared.core.phone import mask, mask_numbers_in
from webhooks.status_page_bridge import BridgeCard, bridge_card
from webhooks.status_page_timeline import Paged, TimelineRow, timeline_rows

OPEN_ALERTS_SHOWN = 25
RECENT_NOTIFICATIONS = 25
# An alert paging for days has thousands of events; the page shows the latest.
EVENTS_PER_ALERT = 200
ERROR_MESSAGE_CHARS = 120


@dataclass(frozen=True)
class NotificationRow:
    """One SMS or call to one person, number masked."""

    id: int
    alert_id: int
    created_at: datetime
    contact: str
    channel: str
    to: str
    state: str
    step: int
    attempts: int
    error_code: str
    error_message: str
    provider: str
    provider_uuid: str


@dataclass(frozen=True)
class AlertCard:
    """An open alert with everything the page says about it."""

    id: int
    summary: str
    severity: str
    status: str
    source: str
    created_at: datetime
    escalation: str
    policy: str
    step: int | None
    next_at: datetime | None
    acknowledged: str  # "by whom via what", masked; "" while triggered
    recipients: list[str]
    notifications: list[NotificationRow]
    timeline: list[TimelineRow]
    older_events_left_out: bool
    bridge: BridgeCard | None = None  # the alert's incident bridge, once someone opened it


@dataclass(frozen=True)
class AlertsSection:
    alerts: list[AlertCard]
    more: bool  # more open alerts than shown
    recent: list[NotificationRow]


def notification_row(n: Notification) -> NotificationRow:
    return NotificationRow(
        id=n.id,
        alert_id=n.alert_id,
        created_at=n.created_at,
        contact=mask_numbers_in(n.contact or ""),
        channel=n.channel,
        to=mask(n.destination),
        state=n.state,
        step=n.step,
        attempts=n.send_attempts,
        error_code=mask_numbers_in(n.error_code or ""),
        error_message=mask_numbers_in((n.error_message or "")[:ERROR_MESSAGE_CHARS]),
        provider=n.provider or "",
        provider_uuid=n.provider_uuid or "",
    )


def _acknowledged(alert: Alert) -> str:
    if not alert.acknowledged_by:
        return ""
    via = f" via {alert.acknowledged_via}" if alert.acknowledged_via else ""
    return mask_numbers_in(f"{alert.acknowledged_by}{via}")


def alert_card(
    alert: Alert,
    notifications: list[Notification],
    events: list[Event],
    *,
    truncated: bool,
    bridge: BridgeCard | None = None,
) -> AlertCard:
    """One alert's card from its rows; `events` oldest first (the latest ones when
    `truncated`)."""
    paged = {n.id: Paged(n.contact or "", n.destination, n.channel) for n in notifications}
    return AlertCard(
        id=alert.id,
        summary=mask_numbers_in(alert.summary),
        severity=alert.severity,
        status=alert.status,
        source=alert.source,
        created_at=alert.created_at,
        escalation=alert.escalation,
        policy=alert.policy or "",
        step=alert.esc_step,
        next_at=alert.next_fire_at,
        acknowledged=_acknowledged(alert),
        recipients=[mask(number) for number in alert.recipients or []],
        notifications=[notification_row(n) for n in notifications],
        timeline=timeline_rows(
            ((e.at, e.kind, e.notification_id, e.detail) for e in events), paged
        ),
        older_events_left_out=truncated,
        bridge=bridge,
    )


def _latest_events(session: Session, alert_id: int) -> tuple[list[Event], bool]:
    """The alert's latest events, oldest first, and whether older ones were left out."""
    newest_first = list(
        session.scalars(
            select(Event)
            .where(Event.alert_id == alert_id)
            .order_by(Event.id.desc())
            .limit(EVENTS_PER_ALERT + 1)
        )
    )
    return newest_first[:EVENTS_PER_ALERT][::-1], len(newest_first) > EVENTS_PER_ALERT


def alerts_section(session: Session) -> AlertsSection:
    """Open alerts, newest first, with their timelines; and the latest notifications."""
    page = list_alerts(session, AlertFilter(limit=OPEN_ALERTS_SHOWN))
    ids = [alert.id for alert in page.alerts]
    notifications: dict[int, list[Notification]] = defaultdict(list)
    for n in session.scalars(
        select(Notification).where(Notification.alert_id.in_(ids)).order_by(Notification.id)
    ):
        notifications[n.alert_id].append(n)
    cards = []
    for alert in page.alerts:
        events, truncated = _latest_events(session, alert.id)
        bridge = bridge_card(session, alert.id)
        cards.append(
            alert_card(alert, notifications[alert.id], events, truncated=truncated, bridge=bridge)
        )
    recent = session.scalars(
        select(Notification).order_by(Notification.id.desc()).limit(RECENT_NOTIFICATIONS)
    )
    return AlertsSection(
        alerts=cards,
        more=page.next_cursor is not None,
        recent=[notification_row(n) for n in recent],
    )
