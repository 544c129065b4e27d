"""An alert paged again because its acknowledgement timed out, as its pages tell it.

A person paged a second time for an alert someone acknowledged needs to know
why before anything else: who acknowledged it and how long ago, so they can ask
that person or take over. Only an ack timeout (shared.escalation.ack_timeout)
puts an acknowledged alert back to triggered, so a triggered alert with an
acknowledgement is one whose acknowledgement timed out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.alerts.formats import clip
from shared.core.enums import AlertStatus
from shared.core.models import Alert
from shared.core.phone import mask_numbers_in

BY_SHOWN = 40  # characters of who acknowledged: a name, not a paragraph


@dataclass(frozen=True, slots=True)
class AckTimedOut:
    """Who acknowledged (numbers masked, shortened) and how long before `now`."""

    by: str
    acknowledged_at: datetime
    seconds_ago: float


def ack_timed_out(alert: Alert, now: datetime) -> AckTimedOut | None:
    """The timed-out acknowledgement of a triggered alert; None for any other alert."""
    if alert.status != AlertStatus.TRIGGERED or alert.acknowledged_at is None:
        return None
    by = clip(mask_numbers_in(" ".join((alert.acknowledged_by or "").split())), BY_SHOWN)
    return AckTimedOut(
        by=by or "someone",
        acknowledged_at=alert.acknowledged_at,
        seconds_ago=(now - alert.acknowledged_at).total_seconds(),
    )
