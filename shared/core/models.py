"""Database models: alerts, notifications, the append-only event log, and notices."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.core.enums import AlertStatus, EscalationState
from shared.core.timestamps import UTCDateTime, utcnow  # utcnow: imported from here too


class Base(DeclarativeBase):
    pass


class Alert(Base):
    """One problem, as a producer reported it, and how far paging for it went."""

    __tablename__ = "alerts"
    __table_args__ = (
        # At most one unresolved alert per dedup key, even when two producers
        # race: the loser's insert fails and becomes an occurrence instead.
        # Keys are scoped by the credential that created the alert: an
        # integration with its own token can neither join nor close another's.
        Index(
            "uq_alerts_unresolved_dedup_key",
            "integration",
            "dedup_key",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str | None] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(200))
    # Whose credential created it: "api" (the shared API tokens) or an integration
    # with tokens of its own (alertmanager, grafana, pagerduty). Dedup keys are
    # looked up within it, so one integration's token never touches another's alerts.
    integration: Mapped[str] = mapped_column(String(32), default="api", server_default="api")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=AlertStatus.TRIGGERED.value, index=True)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_occurrence_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Set once the routing task has planned its notifications; the sweeper
    # re-enqueues open alerts where this stays empty (broker lost the task).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Escalation: the policy chosen by routing, the next step to fire and when.
    # The due time lives here, not in a broker countdown, so a restarted worker
    # or beat carries on where the chain was.
    policy: Mapped[str | None] = mapped_column(String(200))
    esc_step: Mapped[int] = mapped_column(Integer, default=0)
    esc_round: Mapped[int] = mapped_column(Integer, default=0)
    next_fire_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    # When the tick handed the due position to the workers: it is not handed over
    # again until `requeue_lost_after_s` later (the broker lost it), however long
    # the queue. Cleared whenever the stored position or its due time changes.
    step_enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The chain as it was when escalation started (shared.routing.route.freeze_chain):
    # later steps page from it, so editing the on-call file changes new alerts only.
    # Empty for alerts started before chains were frozen: they follow the file.
    escalation_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    escalation: Mapped[str] = mapped_column(String(16), default=EscalationState.PENDING.value)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_via: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Maintenance mode (shared.alerts.maintenance): while `held_until` is set the alert
    # is not paged; the tick releases it then (or sooner, if its window is cut short).
    # `maintenance` keeps what a window did to it (notice, action, until, the severity
    # as sent when downgraded), also after the release, for the listing and the view.
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    maintenance: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class Notification(Base):
    """One SMS or call to one person; its `state` follows shared.notifications.state."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint(
            "alert_id",
            "step",
            "round",
            "attempt",
            "channel",
            "destination",
            name="uq_notification_plan",
        ),
        Index("ix_notifications_state_updated", "state", "state_changed_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # sms | voice
    destination: Mapped[str] = mapped_column(String(32))  # E.164
    step: Mapped[int] = mapped_column(Integer, default=0)
    round: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # re-calls of one step
    contact: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    text: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str | None] = mapped_column(String(32))
    provider_uuid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The sending process while "sending" (worker.sending.liveness): its death is seen at once.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    provider: Mapped[str | None] = mapped_column(String(16))  # primary | backup account
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    # Not sent before `due_at`; `enqueued_at` tells the hand-over of sends what it already
    # handed over (worker.tasks.hand_over_sends).
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A rate-limit slot is booked for this send at `due_at`: kept in the database while
    # it waits (worker.sending.handover), it is handed over with its slot.
    slot_booked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    outcome: Mapped[str | None] = mapped_column(String(32))  # voice: acknowledged, machine, ...
    # Sent as part of another notification's message or call (a bundle): that
    # one holds Plivo's uuid, and its reports move this one too.
    bundle_lead_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"), index=True)
    resolved_noted_in_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    # A call's Duration, BillDuration and TotalCost from its hang-up (call_charges).
    call_seconds: Mapped[int | None] = mapped_column(Integer)
    billed_seconds: Mapped[int | None] = mapped_column(Integer)
    call_cost: Mapped[Decimal | None] = mapped_column(Numeric(12, 5))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Event(Base):
    """Append-only audit log: every state change and every callback.

    `dedup_key` makes recording idempotent: the same delivery report posted
    twice is one row, so the log stays honest about what happened.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dedup_key: Mapped[str | None] = mapped_column(String(255), unique=True)


class AckCode(Base):
    """The short code a person replies with to acknowledge one open alert, or a bundle of them."""

    __tablename__ = "ack_codes"
    __table_args__ = (
        Index(
            "uq_ack_codes_active",
            "destination",
            "code",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        # A page reads its person's codes, active or retired lately, whatever the
        # number of codes ever made (shared.replies.code_store._person_codes).
        Index("ix_ack_codes_destination_retired_at", "destination", "retired_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    destination: Mapped[str] = mapped_column(String(32))
    code: Mapped[int] = mapped_column(Integer)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)  # the first
    # Every alert the code answers for: one, or all alerts of a bundled message.
    alert_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the code stopped answering for an open alert: it is not handed out
    # again to the same person for a while, so a late or replayed reply to the
    # old alert cannot acknowledge a new one.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OptOut(Base):
    """A number that replied STOP: Plivo will not deliver to it, so we must not pretend."""

    __tablename__ = "opt_outs"

    destination: Mapped[str] = mapped_column(String(32), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChangeEvent(Base):
    """A change a producer reported (a deploy, a configuration change): shown with the
    alerts of the same service that follow it, never a page by itself."""

    __tablename__ = "change_events"
    __table_args__ = (Index("ix_change_events_scope_changed_at", "scope", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The scope of the credential that sent it, as `Alert.integration`: a change is
    # shown only with alerts of the same scope.
    scope: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(255))
    service: Mapped[str | None] = mapped_column(String(255))
    # `source` and `service` as compared with an alert's service (case folded), so
    # the database finds them without a case-insensitive function of its own.
    source_key: Mapped[str | None] = mapped_column(Text)
    service_key: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NoticeRecord(Base):
    """A maintenance notice known to beat: from the on-call file or created by API.

    File notices get a row when beat first sees them (`created_at`), so a send
    due before the notice existed is never reported as missed; their words
    stay in the file (`definition` is null). An API-created notice keeps its
    whole definition here (shared.notices.model.Notice, dumped as JSON). One
    name per notice across both sources: whoever creates one refuses a name
    already taken. `cancelled_at` stops everything not yet sent
    (shared.notices.store.cancel_notice).
    """

    __tablename__ = "notices"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(8))  # file | api
    definition: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NoticeSend(Base):
    """One reminder of one window of a notice (shared.notices.schedule.DueSend).

    The primary key is `DueSend.id`: inserting the row is how a send is claimed,
    so a second beat or a repeated tick hitting the key does nothing. The words
    are rendered once, at creation (`texts`, per channel), so every recipient
    reads the same text even if the file changes while it goes out.
    """

    __tablename__ = "notice_sends"
    __table_args__ = (
        Index("ix_notice_sends_notice_due_at", "notice", "due_at"),
        Index("ix_notice_sends_state_updated_at", "state", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    notice: Mapped[str] = mapped_column(ForeignKey("notices.name"))
    occurrence_key: Mapped[str] = mapped_column(String(32))
    reminder_key: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # scheduled | sending | done | missed | cancelled (shared.notices.delivery_state)
    state: Mapped[str] = mapped_column(String(16))
    texts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Last activity of its batches: beat hands a send with none for a while over again.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class NoticeDelivery(Base):
    """One channel to one number for one send: sent once, ever (the unique key).

    `batch_id` names the bulk request that carried it (and rides in its
    callback URL); `claimed_at` is when that batch took it, before the request.
    """

    __tablename__ = "notice_deliveries"
    __table_args__ = (
        UniqueConstraint("send_id", "channel", "number", name="uq_notice_delivery"),
        Index("ix_notice_deliveries_send_state", "send_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    send_id: Mapped[str] = mapped_column(ForeignKey("notice_sends.id"))
    channel: Mapped[str] = mapped_column(String(16))
    number: Mapped[str] = mapped_column(String(32))  # E.164
    contact: Mapped[str | None] = mapped_column(String(200))
    sender: Mapped[str | None] = mapped_column(String(32))
    # pending | claimed | handed_off | delivered | failed | skipped
    state: Mapped[str] = mapped_column(String(16))
    skip_reason: Mapped[str | None] = mapped_column(String(16))  # opted_out | cancelled
    provider: Mapped[str | None] = mapped_column(String(16))  # primary | backup account
    provider_uuid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[str | None] = mapped_column(String(32))
    batch_id: Mapped[str | None] = mapped_column(String(32), index=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class NoticeOptOut(Base):
    """A number that replied STOP to a maintenance notice: no more notices, pages still go.

    Kept apart from `opt_outs` (STOP to a page), which also stops the on-call texts.
    """

    __tablename__ = "notice_opt_outs"

    destination: Mapped[str] = mapped_column(String(32), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SubscriberListRecord(Base):
    """A subscriber list managed by CLI or API (shared.notices.subscriber_store).

    A notice's audience names lists of the on-call file and these alike; a name in
    both reaches the numbers of both.
    """

    __tablename__ = "subscriber_lists"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SubscriberNumber(Base):
    """One number (E.164) on one managed subscriber list, once."""

    __tablename__ = "subscriber_numbers"
    __table_args__ = (UniqueConstraint("list_name", "number", name="uq_subscriber_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_name: Mapped[str] = mapped_column(ForeignKey("subscriber_lists.name"))
    number: Mapped[str] = mapped_column(String(32))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ScheduleOverride(Base):
    """Someone covering a schedule for a stretch of time (shared.schedules.override_store).

    The on-call file stays the source of the rotation; overrides live here so they
    can be made and taken back at any hour without editing it. Names are those of
    the file (schedule, contacts), checked when the override is made. Removing one
    sets `removed_at`: the row stays, as the event log's entries refer to it.
    """

    __tablename__ = "schedule_overrides"
    __table_args__ = (Index("ix_schedule_overrides_schedule_end", "schedule", "end_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule: Mapped[str] = mapped_column(String(64))
    covering: Mapped[str] = mapped_column(String(200))  # a contact name
    replaces: Mapped[str | None] = mapped_column(String(200))  # None: whoever is on call
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())  # exclusive
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HandoffNoticeRecord(Base):
    """A hand-off notice (worker.tasks.handoff_notices): the key is inserted before it is sent."""

    __tablename__ = "handoff_notices"  # the primary key makes it once per person per shift

    schedule: Mapped[str] = mapped_column(String(64), primary_key=True)
    shift_start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    contact: Mapped[str] = mapped_column(String(200), primary_key=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    message_uuid: Mapped[str | None] = mapped_column(String(64))  # the provider's
    error: Mapped[str | None] = mapped_column(String(200))  # a failed send, not retried
