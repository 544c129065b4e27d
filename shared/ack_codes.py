"""Reply codes in the database: one per (person, open alert), unique among their open ones."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.models import AckCode
from shared.reply_codes import allocate_code

MAX_TRIES = 5


def code_for(session: Session, alert_id: int, destination: str) -> int:
    """The person's code for this alert, allocating the smallest free one the first time.

    Two alerts paging one person at once may pick the same number; the partial
    unique index rejects the second, which then takes the next free code.
    """
    existing = session.scalar(
        select(AckCode.code).where(AckCode.alert_id == alert_id, AckCode.destination == destination)
    )
    if existing is not None:
        return existing
    for _ in range(MAX_TRIES):
        in_use = set(
            session.scalars(
                select(AckCode.code).where(AckCode.destination == destination, AckCode.active)
            )
        )
        code = allocate_code(in_use)
        try:
            with session.begin_nested():
                session.add(AckCode(alert_id=alert_id, destination=destination, code=code))
                session.flush()
            return code
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate a reply code")


def alert_for_code(session: Session, destination: str, code: int | None) -> int | None:
    """The open alert a reply means: by its code, or the only open one when no code is given."""
    query = select(AckCode.alert_id).where(AckCode.destination == destination, AckCode.active)
    if code is not None:
        return session.scalar(query.where(AckCode.code == code))
    alerts = list(session.scalars(query))
    return alerts[0] if len(alerts) == 1 else None
