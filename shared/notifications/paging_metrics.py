"""What the paging histograms and outcome counters observe: how long paging took.

Time to first page, delivery latency and time to acknowledge are each
observed once per alert or per message, however many workers, redelivered
tasks or repeated callbacks see the moment: the caller observes only where its
own compare-and-set applied (a report that moved the message, an
acknowledgement that changed the alert), and the first page of an alert is
claimed once in the event log (a unique key, so two workers accepted by Plivo
at the same instant for one alert cannot both count it).

Nothing is observed before the transaction that saw it commits: a rolled-back
acknowledgement must not show up as one. Savepoints (`begin_nested`) commit
and roll back inside the transaction; only the outermost one counts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event, func, or_, select
from sqlalchemy.orm import Session

from shared.alerts.schemas import Severity
from shared.core.events import record_event
from shared.core.metrics import (
    DELIVERY_LATENCY,
    NO_ERROR_CODE,
    PLIVO_SMS_ERROR_CODES,
    SMS_OUTCOMES,
    TIME_TO_ACK,
    TIME_TO_FIRST_PAGE,
    bounded_label,
)
from shared.core.models import Alert, Event, Notification
from shared.notifications.state import NotificationState

SEVERITIES = frozenset(Severity)
FIRST_PAGE_EVENT = "alert.first_page"
# The first event that says Plivo has a message or call: our own record of its
# acceptance, or a report that overtook it. Failing that, the claim just before
# the request (a final report can overtake both).
HANDED_OVER_EVENT = f"notification.{NotificationState.QUEUED.value}"
CLAIMED_EVENT = f"notification.{NotificationState.SENDING.value}"
SMS_FINAL = frozenset(
    {NotificationState.DELIVERED, NotificationState.UNDELIVERED, NotificationState.FAILED}
)

_PENDING = "paging_metrics_pending"


def elapsed_s(start: datetime, end: datetime) -> float:
    """Seconds from `start` to `end`, never negative (clocks of two hosts may disagree)."""
    return max(0.0, (end - start).total_seconds())


def observe_when_committed(session: Session, observation: Callable[[], object]) -> None:
    """Run `observation` once the session's outermost transaction commits; never
    when it rolls back."""
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []
        if not event.contains(session, "after_commit", _run_pending):
            event.listen(session, "after_commit", _run_pending)
            event.listen(session, "after_rollback", _drop_pending)
    pending.append(observation)


def _run_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the transaction is still open
    for observation in session.info.pop(_PENDING, []):
        observation()


def _drop_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint rolled back: what the transaction saw before it stands
    session.info.pop(_PENDING, None)


def observe_first_pages(session: Session, lead_id: int, accepted_at: datetime) -> int:
    """Plivo accepted the message or call `lead_id` at `accepted_at`: for each alert it
    carries (a bundle carries several) that had no page accepted before, record
    `alert.first_page` and observe the time from the alert's acceptance. Returns
    how many alerts this was the first page of."""
    # The alerts and the two columns needed, in one read: loading each alert whole
    # took a read per alert on every accepted page.
    carried = session.execute(
        select(Alert.id, Alert.created_at, Alert.severity)
        .join(Notification, Notification.alert_id == Alert.id)
        .where(or_(Notification.id == lead_id, Notification.bundle_lead_id == lead_id))
        .distinct()
        .order_by(Alert.id)
    ).all()
    firsts = 0
    for alert_id, created_at, alert_severity in carried:
        seconds = elapsed_s(created_at, accepted_at)
        if not record_event(
            session,
            FIRST_PAGE_EVENT,
            alert_id=alert_id,
            notification_id=lead_id,
            detail={"after_s": round(seconds, 3)},
            dedup_key=f"first-page:{alert_id}",
        ):
            continue
        severity = bounded_label(alert_severity, SEVERITIES)
        observe_when_committed(
            session, lambda s=seconds, v=severity: TIME_TO_FIRST_PAGE.labels(v).observe(s)
        )
        firsts += 1
    return firsts


def handed_over_at(session: Session, notification: Notification) -> datetime | None:
    """When Plivo took the message or call (see HANDED_OVER_EVENT); None if never."""
    for kind, pick in ((HANDED_OVER_EVENT, func.min), (CLAIMED_EVENT, func.max)):
        found = session.scalar(
            select(pick(Event.at)).where(
                Event.alert_id == notification.alert_id,  # indexed: a handful of rows
                Event.notification_id == notification.id,
                Event.kind == kind,
            )
        )
        if found is not None:
            return found
    return None


def observe_reached(session: Session, notification_id: int, channel: str, at: datetime) -> None:
    """The message was delivered or the call answered at `at`: observe the time since
    Plivo took it. Call it only where this was the first such report (the caller's
    compare-and-set or dedup key applied)."""
    notification = session.get(Notification, notification_id)
    if notification is None:
        return
    handed = handed_over_at(session, notification)
    if handed is None:
        return
    seconds = elapsed_s(handed, at)
    observe_when_committed(session, lambda: DELIVERY_LATENCY.labels(channel).observe(seconds))


def count_sms_outcome(session: Session, state: str | None, error_code: str | None) -> None:
    """A report moved a text to its final state (once per message): count how it ended."""
    if state not in SMS_FINAL:
        return
    code = bounded_label(error_code, PLIVO_SMS_ERROR_CODES) if error_code else NO_ERROR_CODE
    observe_when_committed(session, lambda: SMS_OUTCOMES.labels(state, code).inc())


def observe_acknowledged(session: Session, alert_id: int, at: datetime) -> None:
    """The alert was acknowledged at `at` (its status changed here): observe the
    time since it was accepted."""
    row = session.execute(
        select(Alert.severity, Alert.created_at).where(Alert.id == alert_id)
    ).first()
    if row is None:
        return
    severity = bounded_label(row.severity, SEVERITIES)
    seconds = elapsed_s(row.created_at, at)
    observe_when_committed(session, lambda: TIME_TO_ACK.labels(severity).observe(seconds))
