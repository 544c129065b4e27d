"""Maintenance mode in the database: hold or downgrade an alert as it is routed, and
release held alerts when their window is over (shared.alerts.maintenance decides).

The notices in force are the on-call file's and those created by API, less the
cancelled ones, as beat reads them. Maintenance mode must never cost a page:
if the rules cannot be read, the alert is paged as if no window ran (and the
error is logged), and a held alert is released as soon as no running hold
matches it any more (window over, cut short, notice cancelled or removed).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.alerts.maintenance import HOLD, ActiveRule, active_rules, lowered, record, still_held
from shared.alerts.maintenance import verdict as maintenance_verdict
from shared.core.enums import AlertStatus
from shared.core.events import record_event
from shared.core.models import Alert
from shared.notices.store import known_notices
from shared.notices.ticking import in_force
from shared.routing.route import current_config

log = logging.getLogger(__name__)


def rules_in_force(session: Session, config_path: Path | None, now: datetime) -> list[ActiveRule]:
    """The maintenance rules whose window runs at `now`, of every notice in force."""
    config = current_config(config_path)
    file_notices = dict(config.notices) if config is not None else {}
    return active_rules(in_force(file_notices, known_notices(session)), now)


def running_rules(
    session: Session, config_path: Path | None, now: datetime
) -> list[ActiveRule] | None:
    """The running rules; None (logged) when they cannot be read: page as usual then.

    Read once for every alert routed together: a body of 100 alerts read the
    notices 100 times inside the routing's write transaction. No savepoint: what
    can be unreadable is a stored definition or the file, failing in Python and
    leaving the transaction as it was; a failing SELECT means a failing database,
    and the routing task fails with it and is retried."""
    try:
        return rules_in_force(session, config_path, now)
    except Exception:
        log.exception("maintenance rules unreadable: alerts are paged as if no window ran")
        return None


def hold_or_downgrade(session: Session, alert: Alert, rules: list[ActiveRule] | None) -> bool:
    """Apply the running maintenance window that matches the alert, if any, before it is
    routed; True when it is held (route nothing now). A downgrade lowers its severity
    in place, so the route, the priority and the words follow the lower one.
    `rules`: `running_rules` at the moment of routing."""
    chosen = maintenance_verdict(alert, rules) if rules else None
    if chosen is None:
        return False
    as_sent = alert.severity
    alert.maintenance = record(chosen, as_sent)
    detail = {"notice": chosen.notice, "until": chosen.end.isoformat()}
    if chosen.action is HOLD:
        alert.held_until = chosen.end
        record_event(session, "alert.held", alert_id=alert.id, detail=detail)
        log.info("alert %s held by maintenance %s until %s", alert.id, chosen.notice, chosen.end)
        return True
    alert.severity = lowered(as_sent)
    detail.update({"from": as_sent, "to": alert.severity})
    record_event(session, "alert.downgraded", alert_id=alert.id, detail=detail)
    log.info("alert %s downgraded to %s by maintenance %s", alert.id, alert.severity, chosen.notice)
    return False


def release_held(session: Session, config_path: Path | None, now: datetime) -> list[int]:
    """Held alerts no running hold matches any more, made routable again (the caller
    enqueues their routing); a hold still running but ending later moves its end.
    Alerts closed while held stop being looked at."""
    marked = list(session.scalars(select(Alert).where(Alert.held_until.is_not(None))))
    closed = [alert.id for alert in marked if alert.status != AlertStatus.TRIGGERED]
    if closed:  # written only when there is something to write: SQLite locks on a write
        session.execute(
            update(Alert)
            .where(Alert.id.in_(closed))
            .values(held_until=None)
            .execution_options(synchronize_session=False)
        )
    held = [alert for alert in marked if alert.status == AlertStatus.TRIGGERED]
    if not held:
        return []
    rules = running_rules(session, config_path, now) or []
    released = []
    for alert in held:
        hold = still_held(alert, rules)
        if hold is not None:
            held_by = (alert.maintenance or {}).get("notice")
            if hold.end != alert.held_until or hold.notice != held_by:
                alert.held_until = hold.end  # extended, or another window holds it on
                alert.maintenance = record(hold, alert.severity)
            continue
        if _release(session, alert, now):
            released.append(alert.id)
    return released


def _release(session: Session, alert: Alert, now: datetime) -> bool:
    """Clear the hold and the routing claim, so routing runs again; False if another
    tick released it first."""
    done = session.execute(
        update(Alert)
        .where(Alert.id == alert.id, Alert.held_until.is_not(None))
        .values(
            held_until=None,
            dispatched_at=None,
            maintenance={**(alert.maintenance or {}), "released_at": now.isoformat()},
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        return False
    notice = (alert.maintenance or {}).get("notice")
    record_event(session, "alert.released", alert_id=alert.id, detail={"notice": notice})
    log.info("alert %s released from maintenance %s: routed now", alert.id, notice)
    return True
