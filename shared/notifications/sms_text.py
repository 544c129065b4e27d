"""The words of an alert SMS: short, most important first, then how to answer."""

from __future__ import annotations

from shared.core.models import Alert
from shared.replies.codes import sms_instructions

MAX_SMS_CHARS = 320  # two concatenated units: enough to read, cheap to send


def alert_sms_text(alert: Alert, reply_code: int | None = None) -> str:
    suffix = f" {sms_instructions(reply_code)}" if reply_code is not None else ""
    head = f"[{alert.severity.upper()}] {alert.summary} (alert #{alert.id}, {alert.source})"
    room = MAX_SMS_CHARS - len(suffix)
    if len(head) > room:
        head = head[: room - 1] + "…"
    return head + suffix
