"""Subscriber lists kept in the database, managed by `alert-dispatch subscribers` and the API.

A notice's audience names lists of the on-call file and these alike: when a
send starts, `with_stored_lists` adds them to the file's (a name in both
reaches the numbers of both). A file notice naming a list managed here
declares it in the file with no numbers (`subscriber_lists: {customers: {}}`),
so `config check` knows the name; notices created by API may name either.
Numbers come in already checked (shared.notices.subscriber_input): E.164,
each once per list (a unique key makes that hold under concurrent imports).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.core.models import SubscriberListRecord, SubscriberNumber
from shared.notices.model import SubscriberList
from shared.routing.config_models import OncallConfig

_INSERT_TRIES = 3


def stored_lists(session: Session) -> dict[str, int]:
    """Every stored list with how many numbers it holds, by name."""
    rows = session.execute(
        select(SubscriberListRecord.name, func.count(SubscriberNumber.id))
        .outerjoin(SubscriberNumber, SubscriberNumber.list_name == SubscriberListRecord.name)
        .group_by(SubscriberListRecord.name)
        .order_by(SubscriberListRecord.name)
    ).all()
    return {name: count for name, count in rows}


def stored_numbers(session: Session, name: str) -> list[str] | None:
    """The list's numbers in the order they were added; None when there is no such list."""
    if session.get(SubscriberListRecord, name) is None:
        return None
    return list(
        session.scalars(
            select(SubscriberNumber.number)
            .where(SubscriberNumber.list_name == name)
            .order_by(SubscriberNumber.id)
        )
    )


def create_list(session: Session, name: str, now: datetime) -> bool:
    """A new, empty stored list; False when one of that name exists."""
    try:
        with session.begin_nested():
            session.add(SubscriberListRecord(name=name, created_at=now, updated_at=now))
            session.flush()
    except IntegrityError:
        return False
    return True


def delete_list(session: Session, name: str) -> int | None:
    """Remove a stored list and its numbers: how many; None when there was no such list."""
    removed = session.execute(
        delete(SubscriberNumber).where(SubscriberNumber.list_name == name)
    ).rowcount
    gone = session.execute(
        delete(SubscriberListRecord).where(SubscriberListRecord.name == name)
    ).rowcount
    return (removed or 0) if gone else None


@dataclass(frozen=True, slots=True)
class Added:
    added: int  # new on the list
    already: int  # were on it before
    total: int  # on it now


def add_numbers(
    session: Session, name: str, numbers: Collection[str], now: datetime
) -> Added | None:
    """Put checked numbers on a stored list (those already there stay as they are);
    None when there is no such list."""
    if session.get(SubscriberListRecord, name) is None:
        return None
    wanted = list(dict.fromkeys(numbers))
    for _ in range(_INSERT_TRIES):
        there = _present(session, name, wanted)
        new = [n for n in wanted if n not in there]
        try:
            with session.begin_nested():
                if new:
                    rows = [{"list_name": name, "number": n, "added_at": now} for n in new]
                    session.execute(insert(SubscriberNumber), rows)
            break
        except IntegrityError:
            continue  # another import added some of them meanwhile: look again
    else:
        raise RuntimeError(f"could not add numbers to subscriber list {name}")
    _touch(session, name, now)
    return Added(len(new), len(wanted) - len(new), _count(session, name))


@dataclass(frozen=True, slots=True)
class Removed:
    removed: int
    missing: int  # were not on it
    total: int  # on it now


def remove_numbers(
    session: Session, name: str, numbers: Collection[str], now: datetime
) -> Removed | None:
    """Take numbers off a stored list; None when there is no such list."""
    if session.get(SubscriberListRecord, name) is None:
        return None
    wanted = list(dict.fromkeys(numbers))
    removed = 0
    if wanted:
        removed = session.execute(
            delete(SubscriberNumber).where(
                SubscriberNumber.list_name == name, SubscriberNumber.number.in_(wanted)
            )
        ).rowcount
    _touch(session, name, now)
    return Removed(removed or 0, len(wanted) - (removed or 0), _count(session, name))


def _present(session: Session, name: str, numbers: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(numbers), 500):  # within every database's parameter limit
        chunk = numbers[start : start + 500]
        found.update(
            session.scalars(
                select(SubscriberNumber.number).where(
                    SubscriberNumber.list_name == name, SubscriberNumber.number.in_(chunk)
                )
            )
        )
    return found


def _count(session: Session, name: str) -> int:
    count = session.scalar(
        select(func.count(SubscriberNumber.id)).where(SubscriberNumber.list_name == name)
    )
    return count or 0


def _touch(session: Session, name: str, now: datetime) -> None:
    session.execute(
        update(SubscriberListRecord).where(SubscriberListRecord.name == name).values(updated_at=now)
    )


def merged_lists(
    file_lists: Mapping[str, SubscriberList], stored: Mapping[str, list[str]]
) -> dict[str, SubscriberList]:
    """The file's lists with the stored ones added: a name in both gets both's numbers
    (the file's first), each once. Pure."""
    merged = dict(file_lists)
    for name, numbers in stored.items():
        if name in merged:
            both = tuple(dict.fromkeys((*merged[name].numbers, *numbers)))
            merged[name] = merged[name].model_copy(update={"numbers": both})
        else:
            merged[name] = SubscriberList.model_construct(name=name, numbers=tuple(numbers))
    return merged


def all_stored_numbers(
    session: Session, names: Collection[str] | None = None
) -> dict[str, list[str]]:
    """Stored lists' numbers by name (of `names`, or every list); empty lists included."""
    lists = select(SubscriberListRecord.name)
    rows = select(SubscriberNumber.list_name, SubscriberNumber.number)
    if names is not None:
        lists = lists.where(SubscriberListRecord.name.in_(list(names)))
        rows = rows.where(SubscriberNumber.list_name.in_(list(names)))
    found: dict[str, list[str]] = {name: [] for name in session.scalars(lists)}
    for name, number in session.execute(rows.order_by(SubscriberNumber.id)):
        found.setdefault(name, []).append(number)
    return found


def with_stored_lists(
    session: Session, config: OncallConfig, names: Collection[str] | None = None
) -> OncallConfig:
    """The configuration with the stored lists (those in `names`, or all) added to the
    file's, as a send starts: its audience then reaches both alike."""
    stored = all_stored_numbers(session, names)
    if not stored:
        return config
    lists = merged_lists(config.subscriber_lists, stored)
    return config.model_copy(update={"subscriber_lists": lists})
