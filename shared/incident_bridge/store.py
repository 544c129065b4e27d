"""Reading an alert's incident bridge back from its timeline."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.models import Event
from shared.incident_bridge.reports import BridgeEvent


def bridge_events(session: Session, alert_id: int) -> list[Event]:
    """Every `bridge.*` event of the alert, oldest first: what the bridge's views are
    summed up from (who is in it, who came and went, the recordings)."""
    return list(
        session.scalars(
            select(Event)
            .where(Event.alert_id == alert_id, Event.kind.in_(list(BridgeEvent)))
            .order_by(Event.id)
        )
    )
