"""The alert as a PHLO run and a webhook post show it. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.core.models import Alert
from shared.notifications.sms_text import alert_sms_text


@dataclass(frozen=True, slots=True)
class StepAlert:
    """What a step's PHLO or webhook says of its alert: read once, in the task's session."""

    id: int
    severity: str
    service: str
    summary: str
    source: str
    line: str  # the alert as its SMS says it: `[CRITICAL] summary (alert #12, source)`
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, alert: Alert) -> StepAlert:
        labels = {str(key): str(value) for key, value in (alert.labels or {}).items()}
        return cls(
            id=alert.id,
            severity=alert.severity,
            # As the phone line and voice pages name it: the `service` label, else the source.
            service=labels.get("service") or alert.source,
            summary=alert.summary,
            source=alert.source,
            line=alert_sms_text(alert),
            labels=labels,
        )


def ack_instructions(alert_id: int, public_base_url: str) -> str:
    """How anyone reading a chat message or a webhook acknowledges: the people paged
    reply to their page; anyone else uses the CLI or the API."""
    return (
        f"Acknowledge: reply to your page, run `alert-dispatch ack {alert_id}`, "
        f"or POST {ack_url(alert_id, public_base_url)} with an API token."
    )


def ack_url(alert_id: int, public_base_url: str) -> str:
    return f"{public_base_url.rstrip('/')}/api/v1/alerts/{alert_id}/ack"
