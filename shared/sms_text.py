"""The words of an alert SMS: short, most important first."""

from __future__ import annotations

from shared.models import Alert

MAX_SMS_CHARS = 320  # two concatenated units: enough to read, cheap to send


def alert_sms_text(alert: Alert) -> str:
    text = f"[{alert.severity.upper()}] {alert.summary} (alert #{alert.id}, {alert.source})"
    if len(text) > MAX_SMS_CHARS:
        text = text[: MAX_SMS_CHARS - 1] + "…"
    return text
