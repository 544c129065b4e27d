"""A send's delivery rows, batch by batch: claim, record Plivo's answer, give back, adopt.

Every move is a compare-and-set on the row's state (shared.notices.delivery_state)
and on its batch id, so a redelivered batch task, two batches racing, a late
delivery report and a cancel can each apply only what is still true.

The claim is committed before the request: a row in `claimed` may have
reached Plivo. It returns to `pending` only when the request provably never
left, or when Plivo's list shows it never arrived (`adopt`, after
shared.notices.provider_match): a killed worker never causes a resend.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, case, func, literal, select, update
from sqlalchemy.orm import Session

from shared.core.events import record_event
from shared.core.models import NoticeDelivery, NoticeSend, Notification
from shared.notices.delivery_state import OPEN_SENDS, DeliveryState, SendState, SkipReason
from shared.notices.notice_opt_outs import opted_out_of_notices

D = DeliveryState
_rows = NoticeDelivery.__table__
INVALID_NUMBER = "invalid_number"


def new_batch_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class SendView:
    """What a batch needs to know of its send before it books anything."""

    state: str
    text: str | None  # the SMS words
    pending_by_sender: dict[str | None, int]
    claimed: int
    oldest_claim: datetime | None
    updated_at: datetime


def view_send(session: Session, send_id: str, channel: str) -> SendView | None:
    send = session.get(NoticeSend, send_id)
    if send is None:
        return None
    pending = session.execute(
        select(NoticeDelivery.sender, func.count())
        .where(
            NoticeDelivery.send_id == send_id,
            NoticeDelivery.channel == channel,
            NoticeDelivery.state == D.PENDING.value,
        )
        .group_by(NoticeDelivery.sender)
    ).all()
    claimed, oldest = session.execute(
        select(func.count(), func.min(NoticeDelivery.claimed_at)).where(
            NoticeDelivery.send_id == send_id,
            NoticeDelivery.channel == channel,  # each channel's chain settles its own claims
            NoticeDelivery.state == D.CLAIMED.value,
        )
    ).one()
    text = (send.texts or {}).get(channel)
    return SendView(
        state=send.state,
        text=text if isinstance(text, str) else None,
        pending_by_sender={sender: count for sender, count in pending},
        claimed=claimed,
        oldest_claim=_aware(oldest),
        updated_at=send.updated_at,
    )


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def touch_send(session: Session, send_id: str, now: datetime) -> None:
    """Mark batch activity (and a scheduled send as going out): beat leaves it alone."""
    session.execute(
        update(NoticeSend)
        .where(NoticeSend.id == send_id, NoticeSend.state.in_([s.value for s in OPEN_SENDS]))
        .values(state=SendState.SENDING.value, updated_at=now)
    )


def keep_alive(session: Session, send_id: str, now: datetime, every: timedelta) -> bool:
    """A waiting chain's mark on its send (at most every `every`), so beat does not hand
    it over; False when the send is closed and the chain can stop."""
    send = session.get(NoticeSend, send_id)
    if send is None or send.state not in OPEN_SENDS:
        return False
    last = _aware(send.updated_at)
    if last is None or now - last > every:
        session.execute(
            update(NoticeSend)
            .where(NoticeSend.id == send_id, NoticeSend.state.in_([s.value for s in OPEN_SENDS]))
            .values(updated_at=now)
        )
    return True


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    numbers: list[str]  # to send to, in claim order
    opted_out: int  # claimed, then skipped: the number replied STOP since the send began


def claim_batch(
    session: Session,
    send_id: str,
    *,
    channel: str,
    sender: str | None,
    any_sender: bool,
    size: int,
    provider: str,
    now: datetime,
) -> Batch:
    """Claim up to `size` pending rows of an open send (of one sender unless `any_sender`).

    Commit before the request. Rows whose number opted out since the send was
    created are skipped here, never sent.
    """
    batch_id = new_batch_id()
    ids = list(session.scalars(_claimable(send_id, channel, None if any_sender else sender, size)))
    if not ids:
        return Batch(batch_id, [], 0)
    session.execute(
        update(NoticeDelivery)
        .where(NoticeDelivery.id.in_(ids), NoticeDelivery.state == D.PENDING.value)
        .values(
            state=D.CLAIMED.value,
            batch_id=batch_id,
            claimed_at=now,
            provider=provider,
            updated_at=now,
        )
    )
    numbers = list(
        session.scalars(
            select(NoticeDelivery.number)
            .where(NoticeDelivery.batch_id == batch_id)
            .order_by(NoticeDelivery.id)
        )
    )
    stopped = _opted_out(session, numbers)
    if stopped:
        session.execute(
            update(NoticeDelivery)
            .where(NoticeDelivery.batch_id == batch_id, NoticeDelivery.number.in_(stopped))
            .values(state=D.SKIPPED.value, skip_reason=SkipReason.OPTED_OUT.value, updated_at=now)
        )
    return Batch(batch_id, [n for n in numbers if n not in stopped], len(stopped))


def _claimable(send_id: str, channel: str, sender: str | None, size: int) -> Select[Any]:
    """The oldest pending rows of an open send (of `sender` unless None); on PostgreSQL
    rows another batch is claiming are passed over rather than waited for."""
    query = (
        select(NoticeDelivery.id)
        .join(NoticeSend, NoticeSend.id == NoticeDelivery.send_id)
        .where(
            NoticeDelivery.send_id == send_id,
            NoticeDelivery.channel == channel,
            NoticeDelivery.state == D.PENDING.value,
            NoticeSend.state.in_([s.value for s in OPEN_SENDS]),
        )
        .order_by(NoticeDelivery.id)
        .limit(size)
        .with_for_update(skip_locked=True, of=NoticeDelivery)
    )
    return query if sender is None else query.where(NoticeDelivery.sender == sender)


def _opted_out(session: Session, numbers: Sequence[str]) -> set[str]:
    if not numbers:
        return set()
    return opted_out_of_notices(session, numbers)  # STOP to a page or to a notice


def record_accepted(
    session: Session,
    batch_id: str,
    accepted: Mapping[str, str],
    invalid: Collection[str],
    now: datetime,
) -> None:
    """Plivo's answer: each accepted number handed off with its uuid, each invalid one failed.

    A delivery report may have overtaken this answer and moved the row
    already: its state is kept, and its uuid filled in if still missing.
    """
    if accepted:
        claimed = _rows.c.state == D.CLAIMED.value
        session.execute(
            _rows.update()
            .where(_rows.c.batch_id == bindparam("b"), _rows.c.number == bindparam("num"))
            .values(
                state=case((claimed, D.HANDED_OFF.value), else_=_rows.c.state),
                provider_uuid=func.coalesce(_rows.c.provider_uuid, bindparam("uuid")),
                updated_at=case(
                    (claimed, literal(now, _rows.c.updated_at.type)), else_=_rows.c.updated_at
                ),
            ),
            [{"b": batch_id, "num": n, "uuid": u} for n, u in accepted.items()],
        )
    if invalid:
        fail_batch(session, batch_id, INVALID_NUMBER, now, numbers=invalid)


def fail_batch(
    session: Session,
    batch_id: str,
    error_code: str,
    now: datetime,
    numbers: Collection[str] | None = None,
) -> int:
    """The claimed rows of a batch (or only `numbers`) failed for good, with `error_code`."""
    query = update(NoticeDelivery).where(
        NoticeDelivery.batch_id == batch_id, NoticeDelivery.state == D.CLAIMED.value
    )
    if numbers is not None:
        query = query.where(NoticeDelivery.number.in_(list(numbers)))
    result = session.execute(
        query.values(state=D.FAILED.value, error_code=error_code[:32], updated_at=now)
    )
    return result.rowcount or 0


def release_batch(
    session: Session, batch_id: str, now: datetime, numbers: Collection[str] | None = None
) -> int:
    """Back to pending: the request never reached Plivo (or Plivo's list proves it)."""
    query = update(NoticeDelivery).where(
        NoticeDelivery.batch_id == batch_id, NoticeDelivery.state == D.CLAIMED.value
    )
    if numbers is not None:
        query = query.where(NoticeDelivery.number.in_(list(numbers)))
    result = session.execute(
        query.values(
            state=D.PENDING.value, batch_id=None, claimed_at=None, provider=None, updated_at=now
        )
    )
    return result.rowcount or 0


@dataclass(frozen=True, slots=True)
class StaleBatch:
    """A batch claimed long ago and never recorded: its worker died, or its answer was lost."""

    batch_id: str
    claimed_at: datetime
    provider: str | None
    numbers: list[str]


def stale_batches(
    session: Session, send_id: str, claimed_before: datetime, channel: str = "sms"
) -> list[StaleBatch]:
    rows = session.execute(
        select(
            NoticeDelivery.batch_id,
            NoticeDelivery.claimed_at,
            NoticeDelivery.provider,
            NoticeDelivery.number,
        )
        .where(
            NoticeDelivery.send_id == send_id,
            NoticeDelivery.channel == channel,  # a call is settled from the call list, not SMS
            NoticeDelivery.state == D.CLAIMED.value,
            NoticeDelivery.claimed_at < claimed_before,
        )
        .order_by(NoticeDelivery.id)
    ).all()
    batches: dict[str, StaleBatch] = {}
    for batch_id, claimed_at, provider, number in rows:
        found = batches.setdefault(
            batch_id, StaleBatch(batch_id, _aware(claimed_at) or claimed_before, provider, [])
        )
        found.numbers.append(number)
    return list(batches.values())


def adopt(session: Session, batch: StaleBatch, found: Mapping[str, str], now: datetime) -> int:
    """Settle a stale batch from Plivo's list: the numbers it has are handed off with
    their uuids, the rest go back to pending. The count given back."""
    record_accepted(session, batch.batch_id, found, (), now)
    rest = [n for n in batch.numbers if n not in found]
    return release_batch(session, batch.batch_id, now, rest) if rest else 0


def uuids_taken(session: Session, numbers: Collection[str]) -> set[str]:
    """Plivo uuids already owned, by notices or pages, for messages to these numbers."""
    wanted = list(numbers)
    if not wanted:
        return set()
    notices = session.scalars(
        select(NoticeDelivery.provider_uuid).where(
            NoticeDelivery.number.in_(wanted), NoticeDelivery.provider_uuid.is_not(None)
        )
    )
    pages = session.scalars(
        select(Notification.provider_uuid).where(
            Notification.destination.in_(wanted), Notification.provider_uuid.is_not(None)
        )
    )
    return {u for u in (*notices, *pages) if u}


def finish_if_over(session: Session, send_id: str, now: datetime) -> bool:
    """Move an open send to done once no row is pending or claimed; True when it moved."""
    left = session.scalar(
        select(func.count()).where(
            NoticeDelivery.send_id == send_id,
            NoticeDelivery.state.in_([D.PENDING.value, D.CLAIMED.value]),
        )
    )
    if left:
        return False
    result = session.execute(
        update(NoticeSend)
        .where(NoticeSend.id == send_id, NoticeSend.state.in_([s.value for s in OPEN_SENDS]))
        .values(state=SendState.DONE.value, updated_at=now, finished_at=now)
    )
    if not result.rowcount:
        return False
    record_event(session, "notice.send_done", detail={"send_id": send_id})
    return True
