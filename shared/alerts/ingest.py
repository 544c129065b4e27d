"""One way in for every producer: trigger, acknowledge or resolve by dedup key.

HTTP endpoints, the event-bus bridge and the Python producer API all parse
their own format into `AlertIn` and call `ingest`; storing, deduplication and
the lifecycle rules live here once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from shared.alerts.bulk_accept import accept_triggers, takes_bulk_path
from shared.alerts.lifecycle import acknowledge, resolve
from shared.alerts.schemas import AlertAction, AlertIn
from shared.alerts.store import API_SCOPE, accept_alert, open_alert_by_key
from shared.core.enums import AlertStatus


@dataclass(frozen=True)
class IngestResult:
    """What an event did. `outcome`: created, deduplicated, acknowledged, resolved, ignored.

    `needs_dispatch` is true only for a new alert: the caller enqueues its
    routing after the transaction commits (persist first, then enqueue).
    """

    alert_id: int | None
    outcome: str

    @property
    def needs_dispatch(self) -> bool:
        return self.outcome == "created"


def ingest_all(
    session: Session, events: Sequence[AlertIn], *, via: str, integration: str = API_SCOPE
) -> list[IngestResult]:
    """Apply every event of one request, in order, inside the caller's transaction.

    A body of new triggers (an Alertmanager group) is stored in a few
    statements (`bulk_accept`); anything else one event at a time.
    """
    if takes_bulk_path(events):
        accepted = accept_triggers(session, events, integration)
        if accepted is not None:
            return [
                IngestResult(a.alert_id, "created" if a.created else "deduplicated")
                for a in accepted
            ]
    return [ingest(session, alert_in, via=via, integration=integration) for alert_in in events]


def ingest(
    session: Session, alert_in: AlertIn, *, via: str, integration: str = API_SCOPE
) -> IngestResult:
    """Apply one producer event inside the caller's transaction.

    `integration` is the scope of the credential that sent it ("api" for the
    shared tokens and in-process producers): a trigger joins, and an
    acknowledge or resolve finds, only an alert of that same scope.
    """
    if alert_in.action is AlertAction.TRIGGER:
        accepted = accept_alert(session, alert_in, integration)
        return IngestResult(accepted.alert_id, "created" if accepted.created else "deduplicated")
    alert = (
        open_alert_by_key(session, alert_in.dedup_key, integration) if alert_in.dedup_key else None
    )
    if alert is None:
        # Nothing open under that key: a resolve for an alert we never saw, or
        # one already closed. Not an error for the producer; nothing to do.
        return IngestResult(None, "ignored")
    alert_id = alert.id
    if alert_in.action is AlertAction.ACKNOWLEDGE:
        result = acknowledge(session, alert_id, by=alert_in.source, via=via)
        return IngestResult(alert_id, AlertStatus.ACKNOWLEDGED if result.changed else "ignored")
    result = resolve(session, alert_id, by=alert_in.source, via=via)
    return IngestResult(alert_id, AlertStatus.RESOLVED if result.changed else "ignored")
