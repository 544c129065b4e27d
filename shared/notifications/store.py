"""Planning notifications and moving them through their state machine in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ClauseElement

from shared.core.enums import AlertStatus
from shared.core.events import event_row, record_events
from shared.core.models import Notification, utcnow
from shared.core.row_writes import set_params, sync_loaded
from shared.notifications import statements
from shared.notifications.bundle_members import forget_members, members_of
from shared.notifications.message_record import learn_provider_uuid
from shared.notifications.state import (
    RETRYABLE_SMS_ERROR_CODES,
    NotificationState,
    sources_for,
    state_for_sms_status,
)


def plan_notification(
    session: Session,
    *,
    alert_id: int,
    channel: str,
    destination: str,
    text: str,
    step: int = 0,
    round: int = 0,
    attempt: int = 0,
    contact: str | None = None,
    due_at: datetime | None = None,
    enqueued_at: datetime | None = None,
    events: list[dict[str, Any]] | None = None,
) -> int | None:
    """Insert a pending notification: its id, or None when that exact one was planned before.

    Its `notification.planned` event is recorded at once, or added to `events` for
    the caller to write with the others of its step (shared.core.events.record_events).

    The unique (alert, step, round, channel, destination) key is what keeps a
    routing task that runs twice from paging anyone twice. The id, not an object:
    loading the row into the session cost five times the INSERT, for callers that
    only pass the id on.
    """
    values = {
        "alert_id": alert_id,
        "channel": channel,
        "destination": destination,
        "text": text,
        "step": step,
        "round": round,
        "attempt": attempt,
        "contact": contact,
        "due_at": due_at or utcnow(),
        "enqueued_at": enqueued_at,
        "state": NotificationState.PENDING.value,
    }
    # One statement that inserts (or finds the key taken), where a savepoint, a
    # flush and a release took three round trips on every page planned.
    planned = statements.plan(session.get_bind().dialect.name)
    notification_id = session.execute(planned, set_params(values)).scalar_one_or_none()
    if notification_id is None:
        return None
    detail = {"channel": channel, "step": step, "round": round, "attempt": attempt}
    planned = event_row(
        "notification.planned", alert_id, notification_id, {**detail, "contact": contact}
    )
    if events is None:
        record_events(session, [planned])
    else:
        events.append(planned)
    return notification_id


def move(
    session: Session,
    notification_id: int,
    target: NotificationState,
    *,
    reason: str,
    detail: dict[str, Any] | None = None,
    only_while_alert_triggered: bool = False,
    from_state: NotificationState | None = None,
    events: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> bool:
    """Compare-and-set the state; True only for the one caller whose move applied.

    The WHERE on every allowed source state makes concurrent workers and
    repeated callbacks safe without row locks, on SQLite and PostgreSQL alike.
    `only_while_alert_triggered` guards a send: an acknowledgement cancels
    pending rows in its own transaction, so a send either claimed its row
    before the ack or finds it cancelled, never both. `from_state` narrows the
    compare-and-set to one source state, where a target is reachable from
    several (CANCELLED: a pending row may be cancelled by anyone, a claimed one
    only by its own send). `events`: where the move's event goes, for a caller
    that writes it with others in one INSERT; else it is written here.
    """
    values: dict[str, Any] = {"state": target.value, "state_changed_at": utcnow(), **fields}
    narrowed = set(NotificationState) if from_state is None else {from_state}
    sources = sources_for(target) & narrowed
    # A value the database computes (`send_attempts - 1`) is a rare shape: built per call.
    computed = {k: v for k, v in values.items() if isinstance(v, ClauseElement)}
    plain = sorted(values.keys() - computed.keys())
    statement = statements.move(
        tuple(plain), target is NotificationState.SENDING, only_while_alert_triggered
    )
    if computed:
        statement = statement.values(computed)
    params = {
        "notification_id": notification_id,
        "sources": sorted(s.value for s in sources),
        "triggered": AlertStatus.TRIGGERED,
        **set_params({column: values[column] for column in plain}),
    }
    # The compare-and-set RETURNING whose row it was and its attempt count: one statement.
    moved = session.execute(statement, params).one_or_none()
    if moved is None:
        return False
    alert_id, values["send_attempts"] = moved  # the count as the database left it
    if "bundle_lead_id" in fields:
        forget_members(session)
    sync_loaded(session, Notification, notification_id, values)
    event = event_row(
        f"notification.{target.value}",
        alert_id,
        notification_id,
        {"reason": reason, **(detail or {})},
    )
    if events is None:
        record_events(session, [event])
    else:
        events.append(event)
    return True


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


MAX_BUNDLE = 500  # one message can stand for a whole storm; the text lists the worst


def claim_bundle(
    session: Session,
    lead_id: int,
    channel: str,
    destination: str,
    now: datetime,
    events: list[dict[str, Any]] | None = None,
    claimed_by: str | None = None,
    **lead_fields: Any,
) -> list[Notification]:
    """Claim the lead and every other due, pending notification for the same person
    and channel: one message or call then carries them all (their events into
    `events` when given, as `move` does).

    Each is claimed with the same compare-and-set as a single send, so a
    notification is in exactly one bundle, and a send task that later finds
    its own notification taken by a bundle simply does nothing. `lead_fields`
    are set on the lead by its claim (the provider it goes through); `claimed_by`
    on the lead and its members: the sending process (worker.sending.liveness).
    """
    if not move(
        session,
        lead_id,
        NotificationState.SENDING,
        reason="send attempt",
        detail={"channel": channel},
        only_while_alert_triggered=True,
        events=events,
        claimed_by=claimed_by,
        **lead_fields,
    ):
        return []
    lead = session.get(Notification, lead_id)
    if lead is None:
        # Claimed just above in this transaction: gone means the row was deleted
        # under us, and there is nothing to send.
        return []
    bundled: dict[str, Any] = {
        "reason": f"bundled with {lead_id}",
        "only_while_alert_triggered": True,
        "bundle_lead_id": lead_id,
        "events": events,
        "claimed_by": claimed_by,
    }
    candidates = _bundle_candidates(session, lead_id, channel, destination, now)
    members = [
        candidate
        for candidate in candidates
        if move(session, candidate, NotificationState.SENDING, **bundled)
    ]
    # Every move synchronised the session's copies (shared.core.row_writes.sync_loaded),
    # so nothing is expired and read again here.
    return [lead, *(session.get(Notification, m) for m in members)]  # type: ignore[list-item]


def _bundle_candidates(
    session: Session, lead_id: int, channel: str, destination: str, now: datetime
) -> list[int]:
    """The due, pending notifications a claim of `lead_id` takes along, oldest first."""
    return list(
        session.scalars(
            statements.BUNDLE_CANDIDATES,
            {
                "destination": destination,
                "channel": channel,
                "pending": NotificationState.PENDING.value,
                "now": now,
                "lead_id": lead_id,
                "triggered": AlertStatus.TRIGGERED,
                "room": MAX_BUNDLE - 1,
            },
        ).all()
    )


def move_members(
    session: Session,
    lead_id: int,
    target: NotificationState,
    *,
    reason: str,
    **fields: Any,
) -> list[int]:
    """Move a bundle's members as their lead moved; the ids that moved."""
    return [
        member
        for member in members_of(session, lead_id)
        if move(session, member, target, reason=reason, **fields)
    ]


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
    for member in members_of(session, lead_id):
        move(
            session,
            member,
            NotificationState.PENDING,
            reason="bundle send failed",
            bundle_lead_id=None,
            enqueued_at=None,
        )
