"""A body of new triggers stored in a handful of statements instead of a few per alert.

An Alertmanager group or a Grafana notification carries tens to hundreds of
firing alerts, each with its own fingerprint. Stored one by one, each took a
lookup of its key, an insert in a savepoint and an event insert: about six
round trips per alert, in the one transaction that holds SQLite's write lock.
Here the keys are looked up together, the new alerts inserted in one
statement (ids returned in order) and their events in another. On PostgreSQL
each of the three takes its many values as one parameter (shared.core.many_values):
the keys as one array probed key by key on the unique index, the rows as one JSON
document.

Only the plain body takes this path: every event a trigger, no dedup key
twice. Anything else (a resolve in the body, a key repeated) goes through
`ingest` one event at a time, which applies them in order. A key taken by a
racing request between the lookup and the insert makes the insert fail on
the unique index: its savepoint is rolled back and the caller falls back to
the one-by-one path, which turns that trigger into an occurrence.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    select,
    true,
)
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
from shared.core.db import is_postgresql
from shared.core.many_values import insert_rows, json_document, text_array
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
    postgresql = is_postgresql(session)
    keys = [e.dedup_key for e in events if e.dedup_key]
    open_ids = _open_alerts(session, keys, integration, postgresql=postgresql)
    new = [e for e in events if not (e.dedup_key and e.dedup_key in open_ids)]
    now = utcnow()
    try:
        with session.begin_nested():
            new_ids = _insert_alerts(session, new, integration, now, postgresql=postgresql)
    except IntegrityError:
        return None
    created = dict(zip((id(e) for e in new), new_ids, strict=True))
    results: list[Accepted] = []
    for event in events:
        if id(event) in created:
            results.append(Accepted(alert_id=created[id(event)], created=True))
        else:
            results.append(add_occurrence(session, open_ids[event.dedup_key or ""]))
    _record_accepted(session, [(created[id(e)], e) for e in new], now, postgresql=postgresql)
    return results


# Core inserts on the tables: nothing stored here is read back through the session, and
# the ORM's bulk path converted every row of a 100-alert body once more on its way.
_INSERT_ALERTS = insert(Alert.__table__).returning(
    Alert.__table__.c.id, sort_by_parameter_order=True
)
_INSERT_EVENTS = insert(Event.__table__)


def _open_alerts(
    session: Session, keys: list[str], integration: str, *, postgresql: bool
) -> dict[str, int]:
    """Open alert id by dedup key, for the keys given, in the caller's scope."""
    if not keys:
        return {}
    if postgresql:
        params = {"integration": integration, "keys": text_array(keys)}
        return {key: alert_id for key, alert_id in session.execute(_OPEN_BY_EACH_KEY, params)}
    found: dict[str, int] = {}
    for start in range(0, len(keys), KEYS_PER_LOOKUP):
        chunk = keys[start : start + KEYS_PER_LOOKUP]
        rows = session.execute(
            select(Alert.dedup_key, Alert.id).where(
                *_open_in(integration), Alert.dedup_key.in_(chunk)
            )
        ).all()
        found.update({key: alert_id for key, alert_id in rows if key is not None})
    return found


def _open_in(integration: Any) -> tuple[ColumnElement[bool], ...]:
    """The open alerts of one integration, as the unique index on (integration,
    dedup_key) takes them."""
    return (
        Alert.integration == integration,
        Alert.status.in_(OPEN_STATUSES),
        Alert.status != literal_column("'resolved'"),  # the unique index's condition
    )


def _open_by_each_key() -> Select[tuple[str, int]]:
    """PostgreSQL: one probe of the unique index on (integration, dedup_key) per key, the
    keys as one array (shared.core.many_values). Written as `dedup_key IN (...)` the
    planner, misled by statistics older than a burst of new alerts, filtered every open
    alert of the integration against the list instead: 5 to 400 ms a body once a few
    thousand were open. LIMIT 1 (the index is unique) keeps each probe its own."""
    given = (
        func.unnest(cast(bindparam("keys", type_=String), ARRAY(String)))
        .table_valued("key")
        .render_derived(name="given")
    )
    found = (
        select(Alert.id)
        .where(*_open_in(bindparam("integration")), Alert.dedup_key == given.c.key)
        .limit(1)
        .lateral("found")
    )
    return select(given.c.key, found.c.id).select_from(given.join(found, true()))


_OPEN_BY_EACH_KEY = _open_by_each_key()


def _insert_alerts(
    session: Session, events: Sequence[AlertIn], integration: str, now: Any, *, postgresql: bool
) -> list[int]:
    if not events:
        return []
    rows = [alert_row(e, integration) for e in events]
    if postgresql:
        return _insert_from_json(session, rows, now)
    stamped = [{**row, "created_at": now, "last_occurrence_at": now} for row in rows]
    return list(session.scalars(_INSERT_ALERTS, stamped))


def _insert_from_json(session: Session, rows: list[dict[str, Any]], now: Any) -> list[int]:
    """PostgreSQL: the body's alerts as one JSON document (shared.core.many_values), their
    ids in the order given."""
    statement = insert_rows(
        Alert.__table__, tuple(rows[0]), ("created_at", "last_occurrence_at"), returning="id"
    )
    params = {
        "rows": json_document(Alert.__table__, rows),
        "created_at": now,
        "last_occurrence_at": now,
    }
    return sorted(session.scalars(statement, params))


def _record_accepted(
    session: Session, stored: list[tuple[int, AlertIn]], now: Any, *, postgresql: bool
) -> None:
    """The `alert.accepted` event of each new alert, as `accept_alert` records it."""
    if not stored:
        return
    rows = [{"alert_id": alert_id, "detail": accepted_detail(e)} for alert_id, e in stored]
    if postgresql:
        statement = insert_rows(Event.__table__, ("alert_id", "detail"), ("at", "kind"))
        params = {"rows": json_document(Event.__table__, rows), "at": now, "kind": ACCEPTED_EVENT}
        session.execute(statement, params)
        return
    session.execute(_INSERT_EVENTS, [{**row, "at": now, "kind": ACCEPTED_EVENT} for row in rows])
