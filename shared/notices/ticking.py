"""What one beat tick does about notices: which sends to start, which were missed.

Pure, `now` passed in. The tick reads the notices in force (the on-call
file's and those created by API, less the cancelled ones), the sends already
recorded, and when beat first knew each notice; this decides the rest with
shared.notices.schedule (`sends_due`, `decide`): a send due now or late within
the grace period goes now, one past it is missed (recorded once, logged at
ERROR, counted). A send due before beat first knew its notice is never called
missed: nobody could have sent it.

The notices are read without locks, so an update or a cancel may commit
between that read and the sends the tick starts. Before starting any, the
tick locks the rows of the notices it planned for and reads them again
(shared.notices.store.lock_notices); `still_current` drops what was planned
from a definition that changed meanwhile, so no send carries words an update
already replaced (and nobody would correct), nor starts after a cancel. The
next tick plans them again from what is in force.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from shared.notices.model import Notice
from shared.notices.schedule import Decision, DueSend, decide, sends_due

log = logging.getLogger(__name__)

# Missed sends older than this are not looked for (a beat down for longer has
# told its operators already); also how far back recorded sends are read.
LOOKBACK = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class KnownNotice:
    """A `notices` row, as the tick needs it."""

    name: str
    source: str  # file | api
    definition: dict[str, Any] | None
    first_seen: datetime
    cancelled: bool


@dataclass(frozen=True, slots=True)
class Planned:
    """A send the tick found with no record yet, and what to do with it."""

    send: DueSend
    decision: Decision  # DUE or LATE: create and start it; MISSED: record it as missed


def in_force(
    file_notices: Mapping[str, Notice], known: Mapping[str, KnownNotice]
) -> dict[str, Notice]:
    """The file's notices and the API's, less the cancelled ones.

    An API notice whose stored definition no longer validates (an older
    shape) is left out with an error in the log rather than stopping every
    other notice.
    """
    active = {
        name: notice
        for name, notice in file_notices.items()
        if not (name in known and known[name].cancelled)
    }
    for name, row in known.items():
        if row.source != "api" or row.cancelled or row.definition is None or name in active:
            continue
        try:
            active[name] = Notice.model_validate(row.definition)
        except ValidationError as exc:
            log.error("notice %s: stored definition invalid, not sent: %s", name, exc)
    return active


def since_for(first_seen: datetime, now: datetime, grace: timedelta) -> datetime:
    """Where to look back from for one notice: a send due within the grace period
    goes even if the notice is newer; one due before the notice was known is ignored."""
    return max(now - LOOKBACK, min(first_seen, now - grace))


def plan_tick(
    notices: Mapping[str, Notice],
    first_seen: Mapping[str, datetime],
    recorded: Collection[str],
    now: datetime,
    grace: timedelta,
) -> list[Planned]:
    """Every send due before `now` with no record in `recorded` (ids), earliest first."""
    planned = []
    for name, notice in notices.items():
        since = since_for(first_seen.get(name, now), now, grace)
        for send in sends_due(name, notice, since, now):
            if send.id not in recorded:
                planned.append(Planned(send, decide(send.due_at, now, grace)))
    return sorted(planned, key=lambda item: item.send.due_at)


def earliest_since(first_seen: Mapping[str, datetime], now: datetime, grace: timedelta) -> datetime:
    """The oldest due time any notice could need: recorded sends are read from there."""
    return min((since_for(seen, now, grace) for seen in first_seen.values()), default=now - grace)


def _same(read: KnownNotice, locked: KnownNotice) -> bool:
    return (read.source, read.definition, read.cancelled) == (
        locked.source,
        locked.definition,
        locked.cancelled,
    )


def still_current(
    planned: list[Planned], read: Mapping[str, KnownNotice], locked: Mapping[str, KnownNotice]
) -> tuple[list[Planned], list[str]]:
    """(what was planned from notices unchanged since `read`, names of the changed ones),
    `locked` being the same rows read again under lock."""
    changed = sorted(
        {
            item.send.notice
            for item in planned
            if item.send.notice not in read
            or item.send.notice not in locked
            or not _same(read[item.send.notice], locked[item.send.notice])
        }
    )
    return [item for item in planned if item.send.notice not in changed], changed
