"""The last word before a claimed send's request leaves: may it still go?

A send claims its notification (state `sending`) before its final spacing
wait, and an acknowledgement cancels only pending rows, so a claimed send must
look once more after every wait. Pure: the caller reads the state and the
statuses in one query right before the request, and applies the answer.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.core.enums import AlertStatus
from shared.notifications.state import NotificationState

# Only a triggered alert pages anyone: the claim requires the same.
PAGING_STATUS = AlertStatus.TRIGGERED


def may_still_send(notification_state: str | None, alert_statuses: Iterable[str | None]) -> bool:
    """True while the send is still claimed (`sending`, ours: nobody else moves a
    claimed row but a worker declared lost) and at least one alert it pages for,
    the lead's or a bundle member's, is still triggered."""
    if notification_state != NotificationState.SENDING.value:
        return False
    return any(status == PAGING_STATUS for status in alert_statuses)


def stop_reason(notification_state: str | None, alert_statuses: Iterable[str | None]) -> str:
    """Why a claimed send was stopped, for the notification's timeline."""
    if notification_state != NotificationState.SENDING.value:
        return f"claim lost before the request (now {notification_state or 'gone'})"
    closed = sorted({s for s in alert_statuses if s and s != PAGING_STATUS})
    if not closed:
        return "alert gone before the request"
    return f"alert {' and '.join(closed)} before the request left"
