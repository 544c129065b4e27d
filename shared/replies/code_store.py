"""Reply codes in the database: one per person per open alert, or per bundle of alerts.

A code is unique among the person's active codes. It stays active while
any alert it answers for is still triggered, so "7A" keeps meaning the same
bundle until every alert in it is closed. Once retired, it is not given to the
same person again for CODE_REUSE_AFTER: a late or replayed reply meant for the
old alert must not acknowledge a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, union_all, update
from sqlalchemy.orm import Session

from shared.core.db import insert_unless_duplicate
from shared.core.enums import AlertStatus
from shared.core.models import AckCode, Alert, Notification, utcnow
from shared.replies.codes import (
    CODE_REUSE_AFTER,
    Reply,
    allocate_code,
    codes_to_avoid,
    resolve_code,
)

MAX_TRIES = 5


def code_for(session: Session, alert_ids: Sequence[int], destination: str) -> int:
    """The person's code for exactly these alerts, allocating the smallest free one.

    Two sends to one person at once may pick the same number; the partial
    unique index keeps the second from inserting, which then reads again and takes the
    code the first made for these alerts, or the next free one. Codes the
    person gave up less than CODE_REUSE_AFTER ago are not free.
    """
    wanted = sorted(set(alert_ids))
    for _ in range(MAX_TRIES):
        now = utcnow()
        codes = _person_codes(session, destination, now)
        for row in codes:
            if row.active and sorted(row.alert_ids or [row.alert_id]) == wanted:
                return row.code
        code = allocate_code(
            codes_to_avoid(
                [row.code for row in codes if row.active],
                [(row.code, row.retired_at) for row in codes if not row.active],
                now,
            )
        )
        made = session.execute(
            insert_unless_duplicate(session.get_bind().dialect.name, _CODES, _CODES.c.code),
            {
                "alert_id": wanted[0],
                "alert_ids": wanted,
                "destination": destination,
                "code": code,
                "active": True,
                "created_at": now,
            },
        ).scalar_one_or_none()
        if made is not None:
            return code
    raise RuntimeError("could not allocate a reply code")


# A Core insert (and a column read in `_person_codes`): a page's code is read and made on
# every first page, where loading and flushing AckCode objects nobody reads back cost
# more than the SQL. A code taken meanwhile inserts nothing (no savepoint needed).
_CODES = AckCode.__table__


def _person_codes(session: Session, destination: str, now: datetime) -> Sequence[Row[Any]]:
    """The person's active codes and those retired within CODE_REUSE_AFTER of `now`,
    in one read."""
    found = session.execute(
        _PERSON_CODES, {"destination": destination, "since": now - CODE_REUSE_AFTER}
    )
    return found.all()


# Built once, as the statements of every page are (shared.core.row_writes says why).
# Two index ranges, one per kind of code: a person's codes ever made may be
# thousands, and a read of "active OR retired lately" walked all of them.
# An active code has no retirement time, so the two halves never overlap.
_CODE_COLUMNS = (
    _CODES.c.code,
    _CODES.c.alert_id,
    _CODES.c.alert_ids,
    _CODES.c.active,
    _CODES.c.retired_at,
)
_PERSON_CODES = union_all(
    select(*_CODE_COLUMNS).where(
        _CODES.c.destination == bindparam("destination"),
        _CODES.c.retired_at.is_(None),
        _CODES.c.active,
    ),
    select(*_CODE_COLUMNS).where(
        _CODES.c.destination == bindparam("destination"),
        _CODES.c.retired_at >= bindparam("since"),
    ),
)


def alerts_for_code(session: Session, destination: str, reply: Reply) -> list[int]:
    """The open alerts a reply means: those of the code it names, or of the person's
    only code for a bare "A". Which code that is, `resolve_code` decides; this only
    reads the person's active codes."""
    rows = session.scalars(
        select(AckCode).where(AckCode.destination == destination, AckCode.active)
    )
    # The partial unique index keeps a person's active codes distinct.
    alerts_by_code = {row.code: list(row.alert_ids or [row.alert_id]) for row in rows}
    code = resolve_code(reply, alerts_by_code.keys())
    return [] if code is None else alerts_by_code[code]


def retire_codes_of(session: Session, alert_id: int) -> None:
    """Deactivate the codes that answered for `alert_id` and now answer for nothing open.

    Only the codes of the people paged for the alert are read (and any whose first
    alert it is): a code answers for alerts of messages to its own person, so no
    other code can name it. Reading every active code instead made each
    acknowledgement cost as much as the number of open alerts."""
    paged = session.scalars(
        select(Notification.destination).where(Notification.alert_id == alert_id).distinct()
    ).all()
    # The people as a list, not a subquery: PostgreSQL scans the whole table for an
    # IN (subquery) beside an OR, and uses the indexes for a list.
    rows = session.execute(
        select(_CODES.c.id, _CODES.c.alert_id, _CODES.c.alert_ids).where(
            _CODES.c.active,
            or_(_CODES.c.alert_id == alert_id, _CODES.c.destination.in_(paged)),
        )
    )
    for row in rows.all():
        ids = row.alert_ids or [row.alert_id]
        if alert_id not in ids:
            continue
        still_open = session.scalar(
            select(Alert.id)
            .where(Alert.id.in_(ids), Alert.status == AlertStatus.TRIGGERED)
            .limit(1)
        )
        if still_open is None:
            session.execute(
                update(AckCode)
                .where(AckCode.id == row.id)
                .values(active=False, retired_at=utcnow())
            )
