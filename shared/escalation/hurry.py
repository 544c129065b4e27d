"""Moving an alert's chain on at once, when someone asks or a page reached nobody.

The receiver calls this for a keypress (2) or an SMS reply (E): the chain the
alert follows comes from shared.routing (frozen on the alert, or the file for
an alert started before chains were frozen), the move from the engine.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from shared.core.enums import AlertStatus
from shared.core.models import Alert, utcnow
from shared.escalation.engine import escalate_now
from shared.escalation.plan import Position
from shared.routing.route import config_and_policy


def escalate_alert_now(
    session: Session,
    alert: Alert,
    *,
    after: Position,
    config_path: Path | None,
    reason: str,
) -> Position | None:
    """Someone asked to move on (pressed 2, replied E, or was not reached): the
    position now due, or None when the chain already moved or has no policy."""
    found = config_and_policy(alert, config_path)
    if found is None or alert.status != AlertStatus.TRIGGERED:
        return None
    return escalate_now(
        session, alert.id, after=after, policy=found[1], now=utcnow(), reason=reason
    )
