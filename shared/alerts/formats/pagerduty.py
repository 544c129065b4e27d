"""PagerDuty Events API v2 alert events to alerts.

Any tool that can page through PagerDuty can page through us by changing its
URL to `/v2/enqueue`: the body, the `dedup_key` rules and the answers are
PagerDuty's. Errors are reported as PagerDuty words them: a list of strings
such as `'payload.summary' is missing or blank`.

Mapping:

| PagerDuty | ours |
|---|---|
| `event_action` trigger / acknowledge / resolve | action trigger / acknowledge / resolve |
| `dedup_key` (generated for a trigger without one, and returned) | `dedup_key`, unchanged |
| `payload.summary` | `summary` |
| `payload.severity` critical / error / warning / info | `severity`, the same four words |
| `payload.source`, `.component`, `.group`, `.class` | `labels` of those names |
| `payload.custom_details`, `.timestamp`, `images`, `links`, `client`, `client_url` | `details` |

Our `source` is always `pagerduty`: PagerDuty's `source` is a host name, and
that belongs in labels, where routing can match it, not in a metric label.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from shared.alerts.formats import SUMMARY_MAX, FormatError, clip, make_alert
from shared.alerts.schemas import (
    AlertAction,
    AlertIn,
    DedupKeyText,
    Severity,
    SummaryText,
    require_visible,
)

SOURCE = "pagerduty"

# PagerDuty's severities are ours, word for word.
SEVERITIES: dict[str, Severity] = {s.value: s for s in Severity}
# PagerDuty's `payload.source`: a host or service name, up to 1024 characters, readable.
SourceName = Annotated[
    str, StringConstraints(min_length=1, max_length=1024), AfterValidator(require_visible)
]


class PagerDutyPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    summary: SummaryText
    source: SourceName
    severity: Literal["critical", "error", "warning", "info"]
    timestamp: str | None = None
    component: str | None = Field(default=None, max_length=1024)
    group: str | None = Field(default=None, max_length=1024)
    class_: str | None = Field(default=None, alias="class", max_length=1024)
    custom_details: Any = None


class PagerDutyEvent(BaseModel):
    """An Events API v2 alert event. `routing_key` is checked by the endpoint, not here."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    routing_key: str = Field(min_length=1)
    event_action: Literal["trigger", "acknowledge", "resolve"]
    dedup_key: DedupKeyText | None = None
    payload: PagerDutyPayload | None = None
    client: str | None = None
    client_url: str | None = None
    images: list[dict[str, Any]] = Field(default_factory=list)
    links: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _needed_for_action(self) -> PagerDutyEvent:
        if self.event_action == "trigger" and self.payload is None:
            raise ValueError("payload is required to trigger")
        if self.event_action != "trigger" and not self.dedup_key:
            raise ValueError(f"dedup_key is required to {self.event_action}")
        return self


def _pd_message(error: Mapping[str, Any]) -> tuple[str, str]:
    """(field, message) in PagerDuty's wording for one pydantic error."""
    field = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "value_error":
        # The cross-field rules above: "payload is required to trigger".
        name, _, rest = str(error["ctx"]["error"]).partition(" is required ")
        return name, f"is missing or blank (required {rest})"
    if kind in ("missing", "string_too_short", "blank_text") or (
        kind == "string_type" and not error["input"]
    ):
        return field, "is missing or blank"
    if kind == "literal_error":
        return field, f"is invalid (must be one of the following: {error['ctx']['expected']})"
    if kind == "string_too_long":
        return field, f"is too long (maximum {error['ctx']['max_length']} characters)"
    return field, f"is invalid ({error['msg']})"


def parse(payload: Mapping[str, Any]) -> PagerDutyEvent:
    try:
        return PagerDutyEvent.model_validate(payload)
    except ValidationError as exc:
        fields = [
            {"field": field, "message": message}
            for field, message in (_pd_message(error) for error in exc.errors())
        ]
        raise FormatError("Event object is invalid", fields) from None


def error_strings(exc: FormatError) -> list[str]:
    """A FormatError as PagerDuty's `errors` list: `'payload.summary' is missing or blank`."""
    return [f"'{f['field']}' {f['message']}" if f["field"] else f["message"] for f in exc.fields]


def new_dedup_key() -> str:
    """What PagerDuty does for a trigger without a key: a fresh, unique one."""
    return uuid.uuid4().hex


def to_alerts(
    payload: Mapping[str, Any], *, new_key: Callable[[], str] = new_dedup_key
) -> list[AlertIn]:
    """One alert event; a trigger without `dedup_key` gets a new key (read it from the result)."""
    event = parse(payload)
    return [event_to_alert(event, new_key=new_key)]


def event_to_alert(event: PagerDutyEvent, *, new_key: Callable[[], str] = new_dedup_key) -> AlertIn:
    action = AlertAction(event.event_action)
    if action is not AlertAction.TRIGGER:
        return make_alert(
            summary=clip(f"{event.event_action} {event.dedup_key}", SUMMARY_MAX),
            source=SOURCE,
            dedup_key=event.dedup_key,
            action=action,
        )
    body = event.payload
    if body is None:
        # The model refuses a trigger without a payload; an event built another way
        # gets the same answer.
        raise FormatError(
            "Event object is invalid",
            [{"field": "payload", "message": "is missing or blank (required to trigger)"}],
        )
    labels = {
        name: value
        for name, value in (
            ("source", body.source),
            ("component", body.component),
            ("group", body.group),
            ("class", body.class_),
        )
        if value
    }
    details = {
        "source": body.source,
        "timestamp": body.timestamp,
        "component": body.component,
        "group": body.group,
        "class": body.class_,
        "custom_details": body.custom_details,
        "client": event.client,
        "client_url": event.client_url,
        "images": event.images,
        "links": event.links,
    }
    return make_alert(
        summary=body.summary,
        severity=SEVERITIES[body.severity],
        source=SOURCE,
        dedup_key=event.dedup_key or new_key(),
        details={name: value for name, value in details.items() if value not in (None, [], "")},
        labels=labels,
        action=action,
    )
