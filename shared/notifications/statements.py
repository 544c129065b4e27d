"""The notification table's hot statements, built once and run with parameters.

Each runs on every page or every delivery report; built on the table with bound
parameters, a statement keeps its cache key and skips the ORM's per-call work
(shared.core.row_writes says how much that saves). shared.notifications.store
runs them and keeps the session's loaded copies in step.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Insert, Update, bindparam, select

from shared.core.db import insert_unless_duplicate
from shared.core.models import Alert, Notification, OptOut
from shared.core.row_writes import set_clause

_NOTIFICATIONS = Notification.__table__
_OPT_OUTS = OptOut.__table__
_ALERTS = Alert.__table__

PLANNED_COLUMNS = (
    "alert_id",
    "channel",
    "destination",
    "text",
    "step",
    "round",
    "attempt",
    "contact",
    "due_at",
    "enqueued_at",
    "state",
)


@lru_cache(maxsize=4)
def plan(dialect: str) -> Insert:
    """`plan_notifications`' INSERT ... ON CONFLICT DO NOTHING RETURNING the id and the
    unique key it was inserted under (alert, step, round, channel, number), per dialect."""
    table = _NOTIFICATIONS
    key = (table.c.alert_id, table.c.step, table.c.round, table.c.channel, table.c.destination)
    insert = insert_unless_duplicate(dialect, table, table.c.id, *key)
    return insert.values(set_clause(PLANNED_COLUMNS))


@lru_cache(maxsize=128)
def move(
    columns: tuple[str, ...], counts_attempt: bool, while_triggered: bool, many: bool = False
) -> Update:
    """`move`'s compare-and-set writing `columns`, one per shape: the source states an
    expanding parameter; the attempt count raised by the database for a send's claim;
    RETURNING the row, its alert and the count. `many`: the rows named by the
    expanding parameter `notification_ids` (`move_many`), else the one `notification_id`."""
    table = _NOTIFICATIONS
    conditions = [
        table.c.id.in_(bindparam("notification_ids", expanding=True))
        if many
        else table.c.id == bindparam("notification_id"),
        table.c.state.in_(bindparam("sources", expanding=True)),
    ]
    if while_triggered:
        conditions.append(
            table.c.alert_id.in_(
                select(_ALERTS.c.id).where(_ALERTS.c.status == bindparam("triggered"))
            )
        )
    values: dict[str, Any] = set_clause(columns)
    if counts_attempt:
        values["send_attempts"] = table.c.send_attempts + 1
    return (
        table.update()
        .where(*conditions)
        .values(values)
        .returning(table.c.id, table.c.alert_id, table.c.send_attempts)
    )


OPTED_OUT = select(_OPT_OUTS.c.destination).where(
    _OPT_OUTS.c.destination == bindparam("destination")
)


RECORD_TEXT = (
    _NOTIFICATIONS.update()
    .where(_NOTIFICATIONS.c.id == bindparam("notification_id"))
    .values(set_clause(("text", "sender")))
)


LEARN_UUID = (
    _NOTIFICATIONS.update()
    .where(
        _NOTIFICATIONS.c.id == bindparam("notification_id"),
        _NOTIFICATIONS.c.provider_uuid.is_(None),
    )
    .values(set_clause(("provider_uuid",)))
)


# The pending pages a claimed lead takes with it: due, for the same person and channel.
BUNDLE_CANDIDATES = (
    select(_NOTIFICATIONS.c.id)
    .join(_ALERTS, _ALERTS.c.id == _NOTIFICATIONS.c.alert_id)
    .where(
        _NOTIFICATIONS.c.destination == bindparam("destination"),
        _NOTIFICATIONS.c.channel == bindparam("channel"),
        _NOTIFICATIONS.c.state == bindparam("pending"),
        _NOTIFICATIONS.c.due_at <= bindparam("now"),
        _NOTIFICATIONS.c.id != bindparam("lead_id"),
        _ALERTS.c.status == bindparam("triggered"),
    )
    .order_by(_NOTIFICATIONS.c.id)
    .limit(bindparam("room"))
)


# A send's notification with whether its number opted out (STOP): one read, not two.
WITH_OPT_OUT = (
    select(Notification, _OPT_OUTS.c.destination)
    .outerjoin(_OPT_OUTS, _OPT_OUTS.c.destination == Notification.destination)
    .where(Notification.id == bindparam("notification_id"))
)
