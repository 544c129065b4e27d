"""A body of new triggers stored in a handful of statements instead of a few per alert.

An Alertmanager group or a Grafana notification carries tens to hundreds of
firing alerts, each with its own fingerprint. Stored one by one, each took a
lookup of its key, an insert in a savepoint and an event insert: about six
round trips per alert, in the one transaction that holds SQLite's write lock.
Here the keys are looked up together, the new alerts inserted in one
statement (ids returned in order) and their events in another.

Only the plain body takes this path: every event a trigger, no dedup key
twice. Anything else (a resolve in the body, a key repeated) goes through
`ingest` one event at a time, which applies them in order. A key taken by a
racing request between the lookup and the insert makes the insert fail on
the unique index: its savepoint is rolled back and the caller falls back to
the one-by-one path, which turns that trigger into an occurrence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import JSON, Insert, Text, bindparam, cast, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.alerts.schemas import AlertAction, AlertIn
from shared.alerts.store import (
    ACCEPTED_EVENT,
    OPEN_STATUSES,
    Accepted,
    accepted_detail,
    add_occurrence,
    alert_row,
)
from shared.core.models import Alert, Event, utcnow

# Keys looked up per statement: well under SQLite's bound-parameter limit.
KEYS_PER_LOOKUP = 500


def takes_bulk_path(events: Sequence[AlertIn]) -> bool:
    """Pure: every event a trigger and no dedup key twice (order then does not matter)."""
    if len(events) < 2 or any(e.action is not AlertAction.TRIGGER for e in events):
        return False
    keys = [e.dedup_key for e in events if e.dedup_key]
    return len(keys) == len(set(keys))


def accept_triggers(
    session: Session, events: Sequence[AlertIn], integration: str
) -> list[Accepted] | None:
    """Store every trigger of a plain body in the caller's transaction, in order.

    None when a racing request took one of the keys first: nothing of this
    call is left behind, and the caller stores the body one event at a time.
    """
    open_ids = _open_alerts(session, [e.dedup_key for e in events if e.dedup_key], integration)
    new = [e for e in events if not (e.dedup_key and e.dedup_key in open_ids)]
    now = utcnow()
    try:
        with session.begin_nested():
            new_ids = _insert_alerts(session, new, integration, now)
    except IntegrityError:
        return None
    created = dict(zip((id(e) for e in new), new_ids, strict=True))
    results: list[Accepted] = []
    for event in events:
        if id(event) in created:
            results.append(Accepted(alert_id=created[id(event)], created=True))
        else:
            results.append(add_occurrence(session, open_ids[event.dedup_key or ""]))
    _record_accepted(session, [(created[id(e)], e) for e in new], now)
    return results


# Core inserts on the tables: nothing stored here is read back through the session, and
# the ORM's bulk path converted every row of a 100-alert body once more on its way.
_INSERT_ALERTS = insert(Alert.__table__).returning(
    Alert.__table__.c.id, sort_by_parameter_order=True
)
_INSERT_EVENTS = insert(Event.__table__)
_ALERT_COLUMNS = Alert.__table__.c


def _open_alerts(session: Session, keys: list[str], integration: str) -> dict[str, int]:
    """Open alert id by dedup key, for the keys given, in the caller's scope."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), KEYS_PER_LOOKUP):
        chunk = keys[start : start + KEYS_PER_LOOKUP]
        rows = session.execute(
            select(Alert.dedup_key, Alert.id).where(
                Alert.integration == integration,
                Alert.dedup_key.in_(chunk),
                Alert.status.in_(OPEN_STATUSES),
                Alert.status != literal_column("'resolved'"),  # the unique index's condition
            )
        ).all()
        found.update({key: alert_id for key, alert_id in rows if key is not None})
    return found


def _insert_alerts(
    session: Session, events: Sequence[AlertIn], integration: str, now: Any
) -> list[int]:
    if not events:
        return []
    rows = [alert_row(e, integration) for e in events]
    if session.get_bind().dialect.name == "postgresql":
        return _insert_from_arrays(session, rows, now)
    stamped = [{**row, "created_at": now, "last_occurrence_at": now} for row in rows]
    return list(session.scalars(_INSERT_ALERTS, stamped))


def _insert_from_arrays(session: Session, rows: list[dict[str, Any]], now: Any) -> list[int]:
    """PostgreSQL: the body's alerts as one array per column, unnested into the INSERT.

    Why: the multi-row INSERT of a 100-alert body has 1,500 named parameters,
    and psycopg caches its conversion to PostgreSQL's numbered ones only for
    statements under 4,096 bytes and 50 parameters: it parsed that statement
    again on every body, 14 % of a receiver's CPU storing Alertmanager bodies.
    This statement has one parameter per column whatever the body's size, so
    its conversion is cached, and it is a third of the time in a loop.
    The rows are inserted in the given order (ORDER BY the ordinality), so
    their ids ascend with it.
    """
    columns = tuple(rows[0])
    params: dict[str, Any] = {"now": now}
    for column in columns:
        values = [row[column] for row in rows]
        # A JSON column's values travel as their text: a list would be read as a nested array.
        params[column] = [json.dumps(v) for v in values] if _is_json(column) else values
    return sorted(session.scalars(_from_arrays(columns), params))


def _is_json(column: str) -> bool:
    return isinstance(_ALERT_COLUMNS[column].type, JSON)


@lru_cache(maxsize=4)
def _from_arrays(columns: tuple[str, ...]) -> Insert:
    """INSERT ... SELECT FROM unnest(one array per column) WITH ORDINALITY, built once per
    set of columns; the model's Python-side defaults fill the columns not given."""
    given = (
        func.unnest(
            *(
                bindparam(
                    column, type_=ARRAY(Text if _is_json(column) else _ALERT_COLUMNS[column].type)
                )
                for column in columns
            )
        )
        .table_valued(*columns, with_ordinality="ordinal")
        .render_derived(name="given")
    )
    now = bindparam("now", type_=_ALERT_COLUMNS["created_at"].type)
    values = [
        cast(given.c[column], _ALERT_COLUMNS[column].type) if _is_json(column) else given.c[column]
        for column in columns
    ]
    chosen = select(*values, now, now).order_by(given.c.ordinal)
    names = [*columns, "created_at", "last_occurrence_at"]
    return (
        insert(Alert.__table__)
        .from_select(names, chosen, include_defaults=True)
        .returning(Alert.__table__.c.id)
    )


def _record_accepted(session: Session, stored: list[tuple[int, AlertIn]], now: Any) -> None:
    """The `alert.accepted` event of each new alert, as `accept_alert` records it."""
    if not stored:
        return
    session.execute(
        _INSERT_EVENTS,
        [
            {"at": now, "alert_id": alert_id, "kind": ACCEPTED_EVENT, "detail": accepted_detail(e)}
            for alert_id, e in stored
        ],
    )
