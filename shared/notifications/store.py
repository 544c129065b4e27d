"""Moving notifications through their state machine in the database (planned by
shared.notifications.planning)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Executable, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ClauseElement

from shared.core.enums import AlertStatus
from shared.core.events import event_row, record_or_defer
from shared.core.models import Notification, utcnow
from shared.core.row_writes import set_params, sync_loaded
from shared.notifications import statements
from shared.notifications.bundle_members import forget_members, members_of
from shared.notifications.message_record import learn_provider_uuid
from shared.notifications.planning import plan_notification
from shared.notifications.state import (
    RETRYABLE_SMS_ERROR_CODES,
    NotificationState,
    sources_for,
    state_for_sms_status,
)


def move(
    session: Session,
    notification_id: int,
    target: NotificationState,
    *,
    reason: str,
    **options: Any,
) -> bool:
    """Compare-and-set the state; True only for the one caller whose move applied.

    The WHERE on every allowed source state makes concurrent workers and
    repeated callbacks safe without row locks, on SQLite and PostgreSQL alike.
    `options` are `move_many`'s: `only_while_alert_triggered` guards a send: an
    acknowledgement cancels pending rows in its own transaction, so a send either
    claimed its row before the ack or finds it cancelled, never both. `from_state`
    narrows the compare-and-set to one source state, where a target is reachable
    from several (CANCELLED: a pending row may be cancelled by anyone, a claimed
    one only by its own send). `events`: where the move's event goes, for a caller
    that writes it with others in one INSERT; else it is written here. `detail`
    joins the event's reason; any other option is a column the move writes.
    """
    return bool(move_many(session, [notification_id], target, reason=reason, **options))


def move_many(
    session: Session,
    notification_ids: Sequence[int],
    target: NotificationState,
    *,
    reason: str,
    detail: dict[str, Any] | None = None,
    only_while_alert_triggered: bool = False,
    from_state: NotificationState | None = None,
    events: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> list[int]:
    """`move` for many notifications in one compare-and-set; the ids whose move applied,
    in the order given, each with its own event.

    A bundle of a hundred pages was claimed, and later recorded, one UPDATE per
    member: on SQLite two hundred statements inside the write lock that every
    receiver storing alerts waits for. The WHERE is the one of a single move, so
    each row still moves at most once, whoever else tries.
    """
    if not notification_ids:
        return []
    values: dict[str, Any] = {"state": target.value, "state_changed_at": utcnow(), **fields}
    statement, params = _move_statement(
        notification_ids, target, values, from_state, only_while_alert_triggered
    )
    # The compare-and-set RETURNING which rows moved, their alerts and attempt counts.
    moved = {row[0]: (row[1], row[2]) for row in session.execute(statement, params)}
    if not moved:
        return []
    if "bundle_lead_id" in fields:
        forget_members(session)
    applied = [n for n in dict.fromkeys(notification_ids) if n in moved]
    moved_events: list[dict[str, Any]] = []
    for notification_id in applied:
        alert_id, attempts = moved[notification_id]
        # The count as the database left it.
        sync_loaded(session, Notification, notification_id, {**values, "send_attempts": attempts})
        moved_events.append(
            event_row(
                f"notification.{target.value}",
                alert_id,
                notification_id,
                {"reason": reason, **(detail or {})},
            )
        )
    record_or_defer(session, moved_events, events)
    return applied


@dataclass(frozen=True)
class ReportOutcome:
    """What applying a delivery report did, for logs and metrics."""

    result: str  # applied | stale | unknown_status
    notification_id: int | None = None
    state: str | None = None


def find_notification(
    session: Session, *, notification_id: int | None, provider_uuid: str | None
) -> Notification | None:
    """By our id (carried in the callback URL) first: it is known before Plivo's uuid is."""
    if notification_id is not None:
        found = session.get(Notification, notification_id)
        if found is not None and (
            not provider_uuid or found.provider_uuid in (None, provider_uuid)
        ):
            return found
    if provider_uuid:
        return session.scalars(
            select(Notification).where(Notification.provider_uuid == provider_uuid)
        ).first()
    return None


def apply_sms_report(
    session: Session, notification_id: int, params: dict[str, str]
) -> ReportOutcome:
    """Move a notification as a recorded report says; never backwards, safe to repeat."""
    uuid = params.get("MessageUUID", "")
    status = params.get("Status", "")
    target = state_for_sms_status(status)
    if target is None:
        return ReportOutcome("unknown_status", notification_id)
    error_code = params.get("ErrorCode") or None
    # Learn Plivo's uuid from the report when our own send never heard back (the
    # session's copy, read to find the report's text, tells when it did).
    known = session.get(Notification, notification_id)
    if uuid and (known is None or known.provider_uuid is None):
        learn_provider_uuid(session, notification_id, uuid)
    fields: dict[str, Any] = {"error_code": error_code} if error_code else {}
    moved = move_bundle(
        session,
        notification_id,
        target,
        reason=f"plivo status {status.lower()}",
        member_reason=f"bundle: plivo status {status}",
        member_fields=fields,
        detail={"error_code": error_code} if error_code else None,
        **fields,
    ).lead_moved
    if moved:
        return ReportOutcome("applied", notification_id, target.value)
    current = session.scalar(select(Notification.state).where(Notification.id == notification_id))
    return ReportOutcome("stale", notification_id, current)


def is_opted_out(session: Session, destination: str) -> bool:
    return session.execute(statements.OPTED_OUT, {"destination": destination}).first() is not None


def with_opt_out(session: Session, notification_id: int) -> tuple[Notification | None, bool]:
    """The notification (loaded into the session) and whether its number replied STOP."""
    row = session.execute(statements.WITH_OPT_OUT, {"notification_id": notification_id}).first()
    return (None, False) if row is None else (row[0], row[1] is not None)


MAX_SMS_REDELIVERIES = 2
SMS_REDELIVERY_DELAY = timedelta(seconds=30)


def plan_sms_retry(session: Session, notification_id: int, report: dict[str, str]) -> int | None:
    """A new attempt after a temporary carrier failure (ErrorCode 20 or 80), due later.

    A new row, not a reset of the old one: the failed attempt stays in the
    record as it happened. None when the error is permanent or attempts ran out.
    """
    if str(report.get("ErrorCode", "")) not in RETRYABLE_SMS_ERROR_CODES:
        return None
    failed = session.get(Notification, notification_id)
    if failed is None or failed.attempt >= MAX_SMS_REDELIVERIES:
        return None
    return plan_notification(
        session,
        alert_id=failed.alert_id,
        channel=failed.channel,
        destination=failed.destination,
        text=failed.text,
        step=failed.step,
        round=failed.round,
        attempt=failed.attempt + 1,
        contact=failed.contact,
        due_at=utcnow() + SMS_REDELIVERY_DELAY,
    )


def _move_statement(
    notification_ids: Sequence[int],
    target: NotificationState,
    values: dict[str, Any],
    from_state: NotificationState | None,
    while_triggered: bool,
) -> tuple[Executable, dict[str, Any]]:
    """`move_many`'s compare-and-set (built once per shape) and its parameters."""
    narrowed = set(NotificationState) if from_state is None else {from_state}
    sources = sources_for(target) & narrowed
    # A value the database computes (`send_attempts - 1`) is a rare shape: built per call.
    computed = {k: v for k, v in values.items() if isinstance(v, ClauseElement)}
    plain = sorted(values.keys() - computed.keys())
    many = len(notification_ids) > 1
    statement = statements.move(
        tuple(plain), target is NotificationState.SENDING, while_triggered, many
    )
    if computed:
        statement = statement.values(computed)
    ids: dict[str, Any] = (
        {"notification_ids": list(notification_ids)}
        if many
        else {"notification_id": notification_ids[0]}
    )
    return statement, {
        **ids,
        "sources": sorted(s.value for s in sources),
        "triggered": AlertStatus.TRIGGERED,
        **set_params({column: values[column] for column in plain}),
    }


def move_members(
    session: Session,
    lead_id: int,
    target: NotificationState,
    *,
    reason: str,
    **fields: Any,
) -> list[int]:
    """Move a bundle's members as their lead moved; the ids that moved."""
    return move_many(session, members_of(session, lead_id), target, reason=reason, **fields)


@dataclass(frozen=True)
class BundleMove:
    """What one `move_bundle` did: whether the lead moved, and which members followed."""

    lead_id: int
    lead_moved: bool
    members: list[int]

    @property
    def moved_ids(self) -> list[int]:
        """Every notification that moved, the lead first when it did."""
        return ([self.lead_id] if self.lead_moved else []) + self.members


def move_bundle(
    session: Session,
    lead_id: int,
    target: NotificationState,
    *,
    reason: str,
    member_reason: str | None = None,
    member_fields: dict[str, Any] | None = None,
    members_follow_only_a_moved_lead: bool = True,
    from_state: NotificationState | None = None,
    detail: dict[str, Any] | None = None,
    **lead_fields: Any,
) -> BundleMove:
    """Move a bundle lead and then its members to `target`: the one way a bundle moves.

    Fields that identify one row (Plivo's uuid) go to the lead only
    (`lead_fields`); `member_fields` (an error code) go to the members. By
    default the members follow only when the lead's compare-and-set applied,
    so a stale caller moves nothing; a caller that recorded the lead's move
    another way (an earlier report) passes `members_follow_only_a_moved_lead=False`.
    """
    lead_moved = move(
        session, lead_id, target, reason=reason, detail=detail, from_state=from_state, **lead_fields
    )
    members: list[int] = []
    if lead_moved or not members_follow_only_a_moved_lead:
        member_kwargs: dict[str, Any] = dict(member_fields or {})
        if from_state is not None:
            member_kwargs["from_state"] = from_state
        members = move_members(
            session, lead_id, target, reason=member_reason or f"bundle: {reason}", **member_kwargs
        )
    return BundleMove(lead_id, lead_moved, members)


def release_members(session: Session, lead_id: int) -> None:
    """The lead's send failed before reaching Plivo: members go back to wait on their own."""
    move_many(
        session,
        members_of(session, lead_id),
        NotificationState.PENDING,
        reason="bundle send failed",
        bundle_lead_id=None,
        enqueued_at=None,
    )
