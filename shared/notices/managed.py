"""Notices created, changed and cancelled by API or CLI: the database side.

A notice made by API is a `notices` row with source `api` and its definition
as JSON; beat reads it with the file's (shared.notices.ticking.in_force).
One name per notice across both sources. The file is the source of its own
notices: they can be cancelled here (a row stops them) but not changed, or
the file and the database would disagree about what a notice says.

An update is one transaction: the new definition, then for each window
people were told about (shared.notices.corrections) the rows not yet handed
off moved to a send with the new words, the reminders already sent claimed
under a moved window's key, and a correction send to everyone already handed
the old words. A refused update writes nothing. The new sends are started by
the caller after the commit (their batch chains), and beat hands them over
anyway if that hand-over is lost, as it does for any quiet send.

The update locks the notice's row first. Beat's tick locks the same row
before it starts a send (shared.notices.store.lock_notices), so a send is
either created before the update, and corrected or moved to the new words
by it, or after it, from the new definition: never from the old words unseen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.core.events import record_event
from shared.core.models import NoticeDelivery, NoticeRecord, NoticeSend
from shared.notices.corrections import (
    CORRECTED_ON,
    MOVED_FROM,
    FamilyUpdate,
    RestSend,
    SendFact,
    UpdatePlan,
    plan_update,
)
from shared.notices.definitions import (
    DefinitionError,
    Problem,
    check_definition,
    stored_notice,
    to_definition,
)
from shared.notices.deliveries import finish_if_over
from shared.notices.delivery_state import DeliveryState, SendState, SkipReason
from shared.notices.model import Notice
from shared.notices.schedule import DueSend
from shared.notices.segments import TooManySegments, checked_sms_size
from shared.notices.store import API, FILE, cancel_notice, opted_out_numbers
from shared.notices.subscriber_store import stored_lists
from shared.notices.updates import NoticeChange, changed_definition
from shared.routing.config_models import OncallConfig

D = DeliveryState
# Rows whose people may hold the old words: handed to Plivo, or in a request under way.
TOLD = (D.CLAIMED.value, D.HANDED_OFF.value, D.DELIVERED.value)


class NoticeConflict(ValueError):
    """The request cannot apply to this notice as it is (a file notice, a name taken)."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def find(session: Session, name: str) -> NoticeRecord | None:
    return session.get(NoticeRecord, name)


def stored_list_names(session: Session) -> list[str]:
    """Subscriber lists kept in the database: a notice may name them as the file's."""
    return list(stored_lists(session))


def notice_of(record: NoticeRecord | None, config: OncallConfig | None, name: str) -> Notice | None:
    """The notice in force under `name`: the file's, or the stored definition."""
    if record is not None and record.source == API and record.definition is not None:
        return stored_notice(record.definition)
    if config is not None and name in config.notices:
        return config.notices[name]
    return None


def create(
    session: Session, notice: Notice, config: OncallConfig | None, now: datetime, by: str
) -> NoticeRecord:
    """Store a checked notice under its name; NoticeConflict when the name is taken."""
    name = notice.name
    if config is not None and name in config.notices:
        raise NoticeConflict(
            f'"{name}" is a notice of the on-call file; choose another name', "name"
        )
    row = NoticeRecord(
        name=name, source=API, definition=to_definition(notice), created_at=now, updated_at=now
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise NoticeConflict(f'a notice "{name}" exists already', "name") from None
    record_event(session, "notice.created", detail={"notice": name, "by": by})
    return row


def send_facts(session: Session, name: str) -> list[SendFact]:
    rows = session.scalars(
        select(NoticeSend).where(NoticeSend.notice == name).order_by(NoticeSend.due_at)
    )
    return [SendFact.of(row) for row in rows]


def editable(record: NoticeRecord | None, config: OncallConfig | None, name: str) -> NoticeRecord:
    """The API notice `name`, or NoticeConflict saying why it cannot be changed here."""
    if record is None or record.source == FILE:
        if record is None and (config is None or name not in config.notices):
            raise LookupError(name)
        raise NoticeConflict(
            f'"{name}" is defined in the on-call file, which is its source: change it there '
            "(beat reads the file anew), or cancel it here"
        )
    if record.cancelled_at is not None:
        raise NoticeConflict(f'"{name}" is cancelled: create a new notice instead')
    return record


def check_corrections(plan: UpdatePlan) -> None:
    """A correction is an SMS like any other: refused (and the update with it) if too long."""
    for family in plan.families:
        if family.correction is None:
            continue
        try:
            checked_sms_size(family.correction)
        except TooManySegments as exc:
            raise DefinitionError([Problem("title", f"the correction SMS: {exc}")]) from None


@dataclass(frozen=True, slots=True)
class Applied:
    """What an update did beyond storing the new definition."""

    new_sends: tuple[str, ...]  # sends to start now (corrections, rest under new words)
    corrected: int  # rows of the correction sends: people already told
    rewritten: int  # rows moved to new words before being sent
    moved_reminders: int  # reminders claimed under a moved window's key


def apply_update(
    session: Session, record: NoticeRecord, new: Notice, plan: UpdatePlan, now: datetime, by: str
) -> Applied:
    """Store `new` and carry out `plan` (shared.notices.corrections) in this transaction."""
    check_corrections(plan)
    record.definition = to_definition(new)
    record.updated_at = now
    sends: list[str] = []
    corrected = rewritten = moved = 0
    for family in plan.families:
        told = _told_rows(session, family.send_ids)
        for rest in family.rest:
            send_id, count = _rest_send(session, record.name, family, rest, now)
            rewritten += count
            if count:
                sends.append(send_id)
        moved += sum(_placeholder(session, due, family, now) for due in family.moved)
        if family.correction is not None and told:
            sends.append(_correction_send(session, record.name, family, told, now))
            corrected += len(told)
    session.flush()
    applied = Applied(tuple(sends), corrected, rewritten, moved)
    detail = {
        "notice": record.name,
        "by": by,
        "update": plan.number,
        "corrected": corrected,
        "rewritten": rewritten,
        "sends": list(applied.new_sends),
    }
    record_event(session, "notice.updated", detail=detail)
    return applied


def _told_rows(session: Session, send_ids: Sequence[str]) -> list[tuple[str, NoticeDelivery]]:
    """(channel of the correction, row) for each number already handed words about this
    window, once per channel the correction goes by (CORRECTED_ON)."""
    rows = session.scalars(
        select(NoticeDelivery)
        .where(NoticeDelivery.send_id.in_(list(send_ids)), NoticeDelivery.state.in_(TOLD))
        .order_by(NoticeDelivery.id)
    )
    unique: dict[tuple[str, str], NoticeDelivery] = {}
    for row in rows:
        channel = CORRECTED_ON.get(row.channel)
        if channel is not None:
            unique.setdefault((channel, row.number), row)
    return [(channel, row) for (channel, _number), row in unique.items()]


def _new_send(
    session: Session,
    name: str,
    family: FamilyUpdate,
    reminder_key: str,
    texts: dict[str, Any],
    now: datetime,
) -> str:
    """A send started by an update (due now), under the window people now expect."""
    send_id = f"{name}/{family.new.key}/{reminder_key}"
    session.add(
        NoticeSend(
            id=send_id,
            notice=name,
            occurrence_key=family.new.key,
            reminder_key=reminder_key,
            due_at=now,
            state=SendState.SCHEDULED.value,
            texts=texts,
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    return send_id


def _rest_send(
    session: Session, name: str, family: FamilyUpdate, rest: RestSend, now: datetime
) -> tuple[str, int]:
    """Move the open send's pending rows to a new send with the new words.

    One UPDATE guarded by `state = pending`: a batch claims rows by the same
    guard, so each row is either claimed (and then corrected) or moved, never both.
    """
    send_id = _new_send(session, name, family, rest.reminder_key, rest.texts, now)
    moved = session.execute(
        update(NoticeDelivery)
        .where(NoticeDelivery.send_id == rest.from_send, NoticeDelivery.state == D.PENDING.value)
        .values(send_id=send_id, updated_at=now)
    ).rowcount
    finish_if_over(session, rest.from_send, now)
    if not moved:
        finish_if_over(session, send_id, now)
    return send_id, moved or 0


def _placeholder(session: Session, due: DueSend, family: FamilyUpdate, now: datetime) -> int:
    """Claim a reminder of the moved window as sent (its people were told, then corrected)."""
    row = NoticeSend(
        id=due.id,
        notice=due.notice,
        occurrence_key=due.occurrence.key,
        reminder_key=due.reminder.key,
        due_at=due.due_at,
        state=SendState.DONE.value,
        texts={MOVED_FROM: family.old.key},
        created_at=now,
        updated_at=now,
        finished_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return 0
    return 1


def _correction_send(
    session: Session,
    name: str,
    family: FamilyUpdate,
    told: list[tuple[str, NoticeDelivery]],
    now: datetime,
) -> str:
    texts: dict[str, Any] = {channel: family.correction for channel, _row in told}
    send_id = _new_send(session, name, family, family.correction_key, texts, now)
    stopped = opted_out_numbers(session)
    session.add_all(
        NoticeDelivery(
            send_id=send_id,
            channel=channel,
            number=row.number,
            contact=row.contact,
            sender=row.sender,
            state=(D.SKIPPED if row.number in stopped else D.PENDING).value,
            skip_reason=SkipReason.OPTED_OUT.value if row.number in stopped else None,
            created_at=now,
            updated_at=now,
        )
        for channel, row in told
    )
    session.flush()
    return send_id


@dataclass(frozen=True, slots=True)
class CancelOutcome:
    changed: bool  # False: it was cancelled already
    sends: int
    skipped: int


def cancel(
    session: Session, record: NoticeRecord | None, name: str, now: datetime, by: str
) -> CancelOutcome:
    """Cancel `name` (idempotent): nothing more of it is sent; audited with who did it."""
    was_cancelled = record is not None and record.cancelled_at is not None
    source = record.source if record is not None else FILE
    result = cancel_notice(session, name, now, source, by=by)
    return CancelOutcome(not was_cancelled, result.sends, result.skipped)


def update_notice(
    session: Session,
    name: str,
    change: NoticeChange,
    config: OncallConfig | None,
    now: datetime,
    by: str,
) -> tuple[Notice, Applied]:
    """Apply `change` to the API notice `name`: LookupError when there is none,
    NoticeConflict when it cannot change here, DefinitionError when the result is invalid
    (nothing is written then: the caller's transaction rolls back)."""
    record = editable(session.get(NoticeRecord, name, with_for_update=True), config, name)
    old = stored_notice(record.definition or {})
    new = check_definition(changed_definition(old, change), config, now, stored_list_names(session))
    plan = plan_update(name, old, new, send_facts(session, name), now)
    return new, apply_update(session, record, new, plan, now, by)
