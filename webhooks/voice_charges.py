"""A page call's length and price, kept when Plivo reports its hang-up, and counted.

The hang-up route calls `record_charge` once per call (after its dedup) in the
same transaction as the call's end, and `count_charge` once that is
committed, so a hang-up Plivo retries after a failure is neither stored nor
counted twice. The figures go on the notification that placed the call (a
bundle's lead) and into the cost metrics per team and source
(shared.notifications.call_charges says which labels).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.alerts.integration_auth import INTEGRATIONS
from shared.alerts.store import API_SCOPE
from shared.core.metrics import CALL_COST, CALL_SECONDS, bounded_label
from shared.core.models import Alert, Notification
from shared.notifications.call_charges import CallCharge, charge_from, team_label

SOURCES = frozenset({API_SCOPE, *INTEGRATIONS})


@dataclass(frozen=True)
class ChargeCount:
    """What to add to the cost metrics once the hang-up is committed."""

    charge: CallCharge
    team: str
    source: str


def record_charge(
    session: Session, notification: Notification, params: dict[str, str]
) -> ChargeCount | None:
    """Store the hang-up's Duration, BillDuration and TotalCost on the notification;
    None when the callback carries none of them."""
    charge = charge_from(params)
    if charge is None:
        return None
    session.execute(
        update(Notification)
        .where(Notification.id == notification.id)
        .values(
            call_seconds=charge.duration_s,
            billed_seconds=charge.billed_s,
            call_cost=charge.cost,
        )
    )
    alert = session.get(Alert, notification.alert_id)
    team = team_label(alert.policy if alert else None)
    source = bounded_label(alert.integration if alert else None, SOURCES)
    return ChargeCount(charge, team, source)


def count_charge(counted: ChargeCount | None) -> None:
    if counted is None:
        return
    labels = {"team": counted.team, "source": counted.source}
    CALL_COST.labels(**labels).inc(float(counted.charge.cost))
    CALL_SECONDS.labels(**labels).inc(counted.charge.duration_s)
