"""The chain's compare-and-sets on the alert row, built once and run with parameters.

Starting a chain and moving its position run on every page; built on the table
with bound parameters they skip the ORM's per-call work (shared.core.row_writes
says how much). shared.escalation.engine runs them and keeps the session's
loaded alert in step.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import ColumnElement, Update, bindparam

from shared.core.enums import AlertStatus
from shared.core.models import Alert
from shared.core.row_writes import set_clause

_ALERTS = Alert.__table__
TRIGGERED = {"triggered": AlertStatus.TRIGGERED}


def _start(*which: ColumnElement[bool]) -> Update:
    """The start's compare-and-set of the alerts `which` names: routed, not started."""
    return (
        _ALERTS.update()
        .where(
            *which,
            _ALERTS.c.escalation == bindparam("pending"),
            _ALERTS.c.status == bindparam("triggered"),
        )
        .values(
            set_clause(
                (
                    "policy",
                    "escalation_snapshot",
                    "esc_step",
                    "esc_round",
                    "next_fire_at",
                    "step_enqueued_at",
                    "escalation",
                )
            )
        )
    )


START = _start(_ALERTS.c.id == bindparam("alert_id"))
# The alerts of one request (an Alertmanager group) on one chain, started together.
START_MANY = _start(_ALERTS.c.id.in_(bindparam("alert_ids", expanding=True))).returning(
    _ALERTS.c.id
)


@lru_cache(maxsize=32)
def position_update(columns: tuple[str, ...], when_due: bool) -> Update:
    """The position's compare-and-set writing `columns`, one per shape (`when_due`: only
    once the position is due)."""
    conditions = [
        _ALERTS.c.id == bindparam("alert_id"),
        _ALERTS.c.status == bindparam("triggered"),
        _ALERTS.c.escalation == bindparam("active"),
        _ALERTS.c.esc_step == bindparam("at_step"),
        _ALERTS.c.esc_round == bindparam("at_round"),
    ]
    if when_due:
        conditions.append(_ALERTS.c.next_fire_at <= bindparam("due_by"))
    return _ALERTS.update().where(*conditions).values(set_clause(columns))
