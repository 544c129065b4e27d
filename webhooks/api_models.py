"""The bodies the receiver answers with (and the one request body it reads by hand), as models.

The handlers build these answers as plain dicts (`webhooks.ingest`,
`webhooks.alert_queries`, `webhooks.alert_actions`, `webhooks.integrations`,
`webhooks.ops`, `webhooks.errors`); the models here exist so that
/openapi.json is generated from one typed description of each body instead of
JSON Schema written out by hand. The contract test (tests/integration/test_openapi_contract.py)
checks every answer of the served receiver against them, so a handler and its
model cannot drift apart unnoticed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from shared.alerts.schemas import AlertAction, require_visible
from shared.core.enums import AlertStatus

EventStatus = Annotated[
    Literal["created", "deduplicated", "acknowledged", "resolved", "ignored"],
    Field(description="What the event did. `ignored`: acknowledge or resolve with no open alert."),
]
MaskedNumber = Annotated[str, Field(description="masked number")]
Moment = Annotated[str, Field(description="ISO 8601 date and time")]
CheckResult = Literal["ok", "unavailable"]


class ErrorField(BaseModel):
    field: str = Field(
        description="The field at fault, dotted (`alerts.0.fingerprint`); empty: the body."
    )
    message: str


class Error(BaseModel):
    """Every refusal and failure of the receiver's own endpoints."""

    error: str
    status: int
    fields: list[ErrorField] = Field(
        default_factory=list, description="Each field at fault; absent when none is."
    )


class AlertAccepted(BaseModel):
    id: int | None = Field(description="The alert; null when nothing was open to act on.")
    status: EventStatus
    queued: bool = Field(
        description="false: stored, but the broker was down; the tick hands it over"
    )


class TimelineEntry(BaseModel):
    id: int
    at: Moment
    kind: str
    notification_id: int | None
    detail: dict[str, Any]


TimelineEntries = Annotated[
    list[TimelineEntry], Field(description="The alert's event log, oldest first.")
]


class QuietHoldView(BaseModel):
    """A page held back by its person's quiet hours (`quiet_hours` in the on-call file)."""

    reason: Literal["quiet_hours"]
    until: Moment = Field(description="When it goes: the end of the quiet hours.")
    text: str = Field(description='As the CLI shows it: "held for quiet hours until 07:00 UTC"')


class NotificationView(BaseModel):
    id: int
    channel: str
    to: MaskedNumber
    state: str
    step: int
    provider_uuid: str | None
    send_attempts: int
    error_code: str | None
    due_at: Moment = Field(description="Not sent before this.")
    held: QuietHoldView | None = Field(description="Set while quiet hours hold it back.")


class ChangeLinkView(BaseModel):
    href: str
    text: str | None = None


class RecentChange(BaseModel):
    """A change to the alert's service shortly before it (CHANGE_WINDOW_S), newest first."""

    id: int
    summary: str
    source: str | None
    service: str | None
    changed_at: Moment
    links: list[ChangeLinkView]
    text: str = Field(description='As the page words it: "deployed api v2.3 4 min ago"')


class MaintenanceView(BaseModel):
    """What a maintenance window did to the alert (a notice's `maintenance:` rule)."""

    notice: str | None
    action: Literal["hold", "downgrade"] | None
    held: bool = Field(description="true: stored but not paged until `until`.")
    until: Moment | None = Field(description="When the hold ends (or the window did).")
    severity_as_sent: str | None = Field(description="Before a downgrade.")
    released_at: Moment | None = Field(description="When a held alert was released and paged.")
    text: str = Field(
        description='As the CLI shows it: "held (maintenance db-upgrade until 03:00 CET)"'
    )


class AlertView(BaseModel):
    id: int
    summary: str
    severity: str
    source: str
    dedup_key: str | None
    status: AlertStatus
    occurrences: int
    created_at: Moment
    acknowledged_at: Moment | None
    acknowledged_by: str | None
    acknowledged_via: str | None
    resolved_at: Moment | None
    maintenance: MaintenanceView | None
    notifications: list[NotificationView]
    timeline: TimelineEntries
    recent_changes: list[RecentChange]


class Escalation(BaseModel):
    state: str
    policy: str | None
    step: int = Field(description="0-based, as a notification's")
    round: int
    next_at: Moment | None


class AlertSummary(BaseModel):
    id: int
    status: AlertStatus
    severity: str
    summary: str
    source: str
    labels: dict[str, str]
    recipients: list[MaskedNumber]
    created_at: Moment
    acknowledged_at: Moment | None
    acknowledged_by: str | None = Field(description="Numbers in it masked.")
    acknowledged_via: str | None
    resolved_at: Moment | None
    escalation: Escalation
    notifications: int = Field(ge=0, description="How many notifications the alert has.")
    maintenance: MaintenanceView | None


class AlertList(BaseModel):
    alerts: list[AlertSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class Timeline(BaseModel):
    id: int
    timeline: TimelineEntries


class ActionBy(BaseModel):
    """Who acknowledges or resolves; the body is optional, and so is `by`."""

    by: Annotated[
        str, StringConstraints(min_length=1, max_length=200), AfterValidator(require_visible)
    ] = "api"


class LifecycleResult(BaseModel):
    id: int
    status: AlertStatus
    changed: bool = Field(description="false: it already was")
    cancelled_notifications: int = Field(ge=0)


class IntegrationResult(BaseModel):
    dedup_key: str
    action: AlertAction
    id: int | None
    status: EventStatus
    queued: bool


class IntegrationAccepted(BaseModel):
    accepted: int = Field(ge=1)
    alerts: list[IntegrationResult]


class PagerDutyAccepted(BaseModel):
    status: Literal["success"]
    message: Literal["Event processed"]
    dedup_key: str


class ChangeAccepted(BaseModel):
    status: Literal["success"]
    message: Literal["Change event processed"]


class PagerDutyInvalid(BaseModel):
    status: Literal["invalid event"]
    message: Literal["Event object is invalid"]
    errors: list[str] = Field(min_length=1)


class Health(BaseModel):
    status: CheckResult
    checks: dict[str, CheckResult]
    callbacks: str = Field(
        description="ok, or why Plivo callbacks were refused lately "
        '("refused: signed for <url> but PUBLIC_BASE_URL is <url>"); unknown when Redis is down.'
    )
