"""The words of an alert SMS: short, most important first, then how to answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.alerts.ack_timed_out import AckTimedOut, ack_timed_out
from shared.alerts.changes import age_text
from shared.core.models import Alert
from shared.replies.codes import sms_instructions

MAX_SMS_CHARS = 320  # two concatenated units: enough to read, cheap to send
# The recent-changes line's share of those: the alert itself keeps the most room.
MAX_CHANGES_CHARS = 100


def changes_line(changes: Sequence[str], limit: int = MAX_CHANGES_CHARS) -> str:
    """`Recent change: deployed api v2.3 4 min ago.`, newest first, as many as fit in
    `limit`; the first one is shortened rather than left out."""
    if not changes:
        return ""
    shown = [changes[0]]
    for note in changes[1:]:
        if len(_worded([*shown, note])) > limit:
            break
        shown.append(note)
    line = _worded(shown)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _worded(notes: Sequence[str]) -> str:
    label = "Recent change" if len(notes) == 1 else "Recent changes"
    return f"{label}: {'; '.join(notes)}."


def ack_timeout_prefix(timed_out: AckTimedOut) -> str:
    """`ACK TIMED OUT (acked 30 min ago by alice, not resolved): `, put before the alert."""
    return (
        f"ACK TIMED OUT (acked {age_text(timed_out.seconds_ago)} by {timed_out.by}, not resolved): "
    )


def alert_sms_text(
    alert: Alert,
    reply_code: int | None = None,
    changes: Sequence[str] | None = None,
    now: datetime | None = None,
) -> str:
    """The alert, then (when given) one line of recent changes to its service, then
    how to answer; never more than MAX_SMS_CHARS, the summary shortened first.

    `changes` are notes as `shared.alerts.changes.change_notes` words them. Given
    the time it leaves (`now`), a page sent because an acknowledgement timed out
    begins by saying so (ack_timeout_prefix).
    """
    suffix = f" {sms_instructions(reply_code)}" if reply_code is not None else ""
    note = f"\n{changes_line(changes)}" if changes else ""
    timed_out = ack_timed_out(alert, now) if now is not None else None
    prefix = ack_timeout_prefix(timed_out) if timed_out is not None else ""
    head = f"{prefix}[{alert.severity.upper()}] {alert.summary} (alert #{alert.id}, {alert.source})"
    room = MAX_SMS_CHARS - len(note) - len(suffix)
    if len(head) > room:
        head = head[: room - 1] + "…"
    return head + note + suffix
