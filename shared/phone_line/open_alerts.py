"""The open alerts as the phone line reads them: counted, and walked most severe first.

The walk is ordered by (severity rank, id), the order a bundled page reads
(shared.notifications.bundling.most_severe_first), and computed in SQL one
alert at a time: a caller in a storm hears the first alert at once rather
than after every open alert has been loaded. The next alert is the first one
after the current one's place in that order, so an alert acknowledged or
resolved by someone else meanwhile is simply not met again, and one that
arrived meanwhile is met where it belongs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from shared.alerts.schemas import Severity
from shared.alerts.store import OPEN_STATUSES
from shared.core.enums import AlertStatus
from shared.core.models import Alert
from shared.notifications.bundling import severity_rank


@dataclass(frozen=True)
class OpenAlerts:
    """How many alerts are open, how many of them nobody acknowledged, and the worst."""

    count: int
    unacknowledged: int
    most_severe: Alert | None


def _rank() -> ColumnElement[int]:
    """severity_rank in SQL: an unknown severity sorts after every known one."""
    return case(
        {severity.value: severity.rank for severity in Severity},
        value=Alert.severity,
        else_=len(Severity),
    )


def _open() -> ColumnElement[bool]:
    return Alert.status.in_([status.value for status in OPEN_STATUSES])


def open_alerts(session: Session) -> OpenAlerts:
    """The counts by status and the most severe open alert (the oldest of equals)."""
    rows = session.execute(
        select(Alert.status, func.count()).where(_open()).group_by(Alert.status)
    ).all()
    counts = {status: count for status, count in rows}
    return OpenAlerts(
        count=sum(counts.values()),
        unacknowledged=counts.get(AlertStatus.TRIGGERED.value, 0),
        most_severe=next_open_alert(session, None),
    )


def next_open_alert(session: Session, after: Alert | None) -> Alert | None:
    """The first open alert after `after` in the walk's order (None: the first of all)."""
    query = select(Alert).where(_open())
    if after is not None:
        rank = severity_rank(after.severity)
        query = query.where(or_(_rank() > rank, and_(_rank() == rank, Alert.id > after.id)))
    return session.scalars(query.order_by(_rank(), Alert.id).limit(1)).first()
