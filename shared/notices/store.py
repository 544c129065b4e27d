"""Notices and their sends in the database: known notices, starting a send, missing one,
cancelling a notice.

A send is claimed by inserting its row (primary key `DueSend.id`): a second
beat, a repeated tick or a redelivered task hitting the key does nothing.
The send and one row per (channel, number) are written in one transaction,
so a send either exists with all its recipients or not at all; the batches
(shared.notices.deliveries) then work through the rows.

Built to grow: the notice create/update/cancel API writes `notices` rows
(source "api", the definition as JSON) that beat picks up with the file's;
each channel in SENDABLE_CHANNELS has its own sender; maintenance mode reads
`notices`; STOP handling adds to `opt_outs`, which every send and every batch reads.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.core.events import record_event
from shared.core.models import NoticeDelivery, NoticeRecord, NoticeSend
from shared.notices.audience import Reach, reach
from shared.notices.checks import window_text
from shared.notices.delivery_state import OPEN_SENDS, DeliveryState, SendState, SkipReason
from shared.notices.model import Notice, NoticeChannel
from shared.notices.notice_opt_outs import opted_out_of_notices
from shared.notices.phlo import TEXTS_KEY as PHLO_TEXTS
from shared.notices.phlo import phlo_texts
from shared.notices.schedule import DueSend
from shared.notices.subscriber_store import with_stored_lists
from shared.notices.templates import render
from shared.notices.ticking import KnownNotice
from shared.notices.whatsapp import whatsapp_texts
from shared.routing.config_models import OncallConfig

FILE = "file"
API = "api"

# Channels with a sender: SMS in bulk (worker/tasks/notice_send_batch.py), voice and
# WhatsApp one recipient a request (notice_call_batch.py, notice_whatsapp_batch.py).
SENDABLE_CHANNELS: tuple[NoticeChannel, ...] = (
    NoticeChannel.SMS,
    NoticeChannel.VOICE,
    NoticeChannel.WHATSAPP,
)


def known_notices(session: Session) -> dict[str, KnownNotice]:
    """Every stored notice. Read by every alert's routing (maintenance windows): a plain
    table SELECT built once, not an ORM query of objects nobody changes."""
    rows = session.execute(_KNOWN_NOTICES)
    return {
        row.name: KnownNotice(
            row.name, row.source, row.definition, row.created_at, row.cancelled_at is not None
        )
        for row in rows
    }


_NOTICES = NoticeRecord.__table__
_KNOWN_NOTICES = select(
    _NOTICES.c.name,
    _NOTICES.c.source,
    _NOTICES.c.definition,
    _NOTICES.c.created_at,
    _NOTICES.c.cancelled_at,
)


def lock_notices(session: Session, names: Collection[str]) -> dict[str, KnownNotice]:
    """The `notices` rows of `names` as committed now, locked until this transaction ends.

    An update and a cancel lock the same row (SELECT ... FOR UPDATE, then
    UPDATE), so they wait for a tick holding it, and it for them; in name
    order, so two ticks never deadlock. SQLite has no row locks: its writers
    already run one at a time (BEGIN IMMEDIATE, shared.core.db).
    """
    if not names:
        return {}
    rows = session.execute(
        select(
            NoticeRecord.name,
            NoticeRecord.source,
            NoticeRecord.definition,
            NoticeRecord.created_at,
            NoticeRecord.cancelled_at,
        )
        .where(NoticeRecord.name.in_(sorted(names)))
        .order_by(NoticeRecord.name)
        .with_for_update()
    ).all()
    return {
        name: KnownNotice(name, source, definition, created_at, cancelled_at is not None)
        for name, source, definition, created_at, cancelled_at in rows
    }


def remember(session: Session, name: str, source: str, now: datetime) -> bool:
    """A `notices` row for `name` (first seen now) unless there is one; True when added."""
    if session.get(NoticeRecord, name) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(NoticeRecord(name=name, source=source, created_at=now, updated_at=now))
            session.flush()
    except IntegrityError:
        return False
    return True


def recorded_send_ids(session: Session, names: Collection[str], since: datetime) -> set[str]:
    """Ids of the sends of these notices due at or after `since`, whatever their state."""
    if not names:
        return set()
    return set(
        session.scalars(
            select(NoticeSend.id).where(
                NoticeSend.notice.in_(list(names)), NoticeSend.due_at >= since
            )
        )
    )


def _claim_send(session: Session, due: DueSend, state: SendState, texts: dict[str, Any]) -> bool:
    """Insert the send's row; False when it exists (another beat or tick was first)."""
    row = NoticeSend(
        id=due.id,
        notice=due.notice,
        occurrence_key=due.occurrence.key,
        reminder_key=due.reminder.key,
        due_at=due.due_at,
        state=state.value,
        texts=texts,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def record_missed(session: Session, due: DueSend, now: datetime) -> bool:
    """Record a send found past its grace period; True for the one caller that did."""
    if not _claim_send(session, due, SendState.MISSED, {}):
        return False
    session.execute(update(NoticeSend).where(NoticeSend.id == due.id).values(finished_at=now))
    late = (now - due.due_at).total_seconds()
    record_event(session, "notice.send_missed", detail={"send_id": due.id, "late_s": round(late)})
    return True


def rendered_texts(notice: Notice, due: DueSend) -> dict[str, Any]:
    """Each channel's words for this window, rendered once for every recipient."""
    values = window_text(notice, due.occurrence.start, due.occurrence.end)
    templates, texts = notice.templates, {}
    if templates.sms is not None:
        texts[NoticeChannel.SMS.value] = render(templates.sms, values)
    if templates.voice is not None:
        texts[NoticeChannel.VOICE.value] = render(templates.voice, values)
    if templates.whatsapp is not None:
        texts[NoticeChannel.WHATSAPP.value] = whatsapp_texts(templates.whatsapp, values)
    if notice.phlo_id is not None:
        voice = texts.get(NoticeChannel.VOICE.value)
        texts[PHLO_TEXTS] = phlo_texts(notice.phlo_id, values.values(), voice)
    return texts


@dataclass(frozen=True, slots=True)
class Started:
    """A send just created: how many rows wait, how many were skipped, what is not sent."""

    send_id: str
    pending: int
    opted_out: int
    unsent_channels: tuple[str, ...]
    unknown_names: tuple[str, ...]


def opted_out_numbers(session: Session) -> frozenset[str]:
    return frozenset(opted_out_of_notices(session))  # STOP to a page or to a notice


def start_send(
    session: Session,
    due: DueSend,
    notice: Notice,
    config: OncallConfig,
    senders: Sequence[str],
    now: datetime,
) -> Started | None:
    """Create the send and one delivery row per recipient; None when it already exists.

    Opted-out numbers get a row too, `skipped` with reason `opted_out`, so
    the send's record says who was left out and why.
    """
    config = with_stored_lists(session, config, notice.audience.lists)  # CLI/API lists too
    found = reach(notice, config, opted_out_numbers(session), senders)
    if not _claim_send(session, due, SendState.SCHEDULED, rendered_texts(notice, due)):
        return None
    rows = [_row(due.id, item, now) for item in found.sendable(SENDABLE_CHANNELS)]
    if rows:
        session.execute(insert(NoticeDelivery), rows)
    started = Started(
        send_id=due.id,
        pending=sum(1 for r in rows if r["state"] == DeliveryState.PENDING),
        opted_out=sum(1 for r in rows if r["state"] == DeliveryState.SKIPPED),
        unsent_channels=found.channels_other_than(SENDABLE_CHANNELS),
        unknown_names=found.unknown_names,
    )
    detail = {"send_id": due.id, "pending": started.pending, "opted_out": started.opted_out}
    record_event(session, "notice.send_started", detail=detail)
    return started


def _row(send_id: str, item: Reach, now: datetime) -> dict[str, Any]:
    skipped = item.opted_out
    return {
        "send_id": send_id,
        "channel": item.channel.value,
        "number": item.number,
        "contact": item.contact,
        "sender": item.sender,
        "state": (DeliveryState.SKIPPED if skipped else DeliveryState.PENDING).value,
        "skip_reason": SkipReason.OPTED_OUT.value if skipped else None,
        "created_at": now,
        "updated_at": now,
    }


@dataclass(frozen=True, slots=True)
class Cancelled:
    sends: int  # sends stopped
    skipped: int  # deliveries that will never go


def cancel_notice(
    session: Session, name: str, now: datetime, source: str = FILE, by: str | None = None
) -> Cancelled:
    """Stop a notice: no new send starts, and what is pending is skipped (`cancelled`).

    A batch already claimed may still leave (its request may be under way);
    nothing else does: batches claim pending rows only, of open sends only.
    Recorded in the event log (with `by`, who cancelled) when anything changed.
    """
    remember(session, name, source, now)
    newly = session.execute(
        update(NoticeRecord)
        .where(NoticeRecord.name == name, NoticeRecord.cancelled_at.is_(None))
        .values(cancelled_at=now, updated_at=now)
    ).rowcount
    open_ids = list(
        session.scalars(
            select(NoticeSend.id).where(
                NoticeSend.notice == name, NoticeSend.state.in_([s.value for s in OPEN_SENDS])
            )
        )
    )
    if not open_ids:
        if newly:
            detail = {"notice": name, "sends": 0, "skipped": 0, "by": by}
            record_event(session, "notice.cancelled", detail=detail)
        return Cancelled(0, 0)
    session.execute(
        update(NoticeSend)
        .where(NoticeSend.id.in_(open_ids))
        .values(state=SendState.CANCELLED.value, updated_at=now, finished_at=now)
    )
    skipped = session.execute(
        update(NoticeDelivery)
        .where(
            NoticeDelivery.send_id.in_(open_ids),
            NoticeDelivery.state == DeliveryState.PENDING.value,
        )
        .values(
            state=DeliveryState.SKIPPED.value,
            skip_reason=SkipReason.CANCELLED.value,
            updated_at=now,
        )
    ).rowcount
    cancelled = Cancelled(len(open_ids), skipped or 0)
    record_event(
        session,
        "notice.cancelled",
        detail={"notice": name, "sends": cancelled.sends, "skipped": cancelled.skipped, "by": by},
    )
    return cancelled


def stalled_sends(session: Session, quiet_since: datetime, now: datetime) -> list[str]:
    """Open sends with no batch activity since `quiet_since` (their task was lost with the
    broker or a worker): marked active now, so the next tick leaves them to the batch."""
    ids = list(
        session.scalars(
            select(NoticeSend.id).where(
                NoticeSend.state.in_([s.value for s in OPEN_SENDS]),
                NoticeSend.updated_at < quiet_since,
            )
        )
    )
    if ids:
        session.execute(update(NoticeSend).where(NoticeSend.id.in_(ids)).values(updated_at=now))
    return ids


def open_send_ids(session: Session, notice: str | None = None) -> list[str]:
    query = select(NoticeSend.id).where(NoticeSend.state.in_([s.value for s in OPEN_SENDS]))
    if notice is not None:
        query = query.where(NoticeSend.notice == notice)
    return list(session.scalars(query))


def notice_names(known: Mapping[str, KnownNotice], source: str) -> list[str]:
    return [name for name, row in known.items() if row.source == source]
