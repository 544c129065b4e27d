"""PagerDuty Change Events (`POST /v2/change/enqueue`) to changes.

A tool that tells PagerDuty about deploys and configuration changes tells us
by changing its URL, as for alert events (`pagerduty.py`): the body and the
answers are PagerDuty's, and errors are worded as PagerDuty words them
(`'payload.summary' is missing or blank`). The `routing_key` is checked by the
endpoint before anything here runs.

| PagerDuty | ours (`ChangeIn`) |
|---|---|
| `payload.summary` (required, up to 1024 characters) | `summary` |
| `payload.source` (up to 255 characters) | `source`: a service name it is matched by |
| `payload.custom_details.service` (a string, up to 255 characters) | `service`: the same |
| `payload.timestamp` (ISO 8601) | `changed_at`, never later than its arrival |
| `payload.custom_details` (an object, at most 16 KiB as JSON), `links` (at most 20) | `details` |

Limits are ours where PagerDuty sets none: a change's words end up in pages, so
what one can carry is bounded and refused, naming the field, when it is over.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.alerts.changes import ChangeIn
from shared.alerts.formats import FormatError
from shared.alerts.schemas import SummaryText, require_visible

NAME_MAX = 255
DETAILS_MAX_BYTES = 16 * 1024
LINKS_MAX = 20
TIMESTAMP_MAX = 64


def _storable(value: str) -> str:
    """NUL cannot be stored as text (PostgreSQL): it becomes U+FFFD, as in alerts."""
    return value.replace("\x00", "\ufffd")


# Length first, so pydantic refuses over-long text with its string messages.
# A service name (`payload.source`, `custom_details.service`): readable, bounded.
ServiceName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=NAME_MAX),
    AfterValidator(_storable),
    AfterValidator(require_visible),
]
LinkHref = Annotated[
    str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_storable)
]
LinkText = Annotated[str, StringConstraints(max_length=1024), AfterValidator(_storable)]


def parse_timestamp(text: str) -> datetime:
    """An ISO 8601 time (`2020-07-17T08:42:58.315+0000`, `...Z`) in UTC; no zone means UTC."""
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise PydanticCustomError(
            "timestamp", "is invalid (not an ISO 8601 date and time)"
        ) from None
    return moment


# What the document promises is read (a subset of what fromisoformat takes):
# 2020-07-17T08:42:58.315+0000, 2020-07-17 08:42Z, ...
ISO_8601_PATTERN = (
    r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])[T ]([01][0-9]|2[0-3]):[0-5][0-9]"
    r"(:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?$"
)


class ChangeLink(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    href: LinkHref
    text: LinkText | None = None


class CustomDetails(BaseModel):
    """Free-form details; only `service` is read, the rest is kept as sent."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    service: ServiceName | None = None

    @model_validator(mode="after")
    def _bounded(self) -> CustomDetails:
        size = len(json.dumps(self.model_dump(), ensure_ascii=False).encode())
        if size > DETAILS_MAX_BYTES:
            raise PydanticCustomError(
                "too_large",
                "is too large (maximum {limit} bytes as JSON)",
                {"limit": DETAILS_MAX_BYTES},
            )
        return self


class ChangePayload(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    summary: SummaryText
    source: ServiceName | None = None
    timestamp: (
        Annotated[
            str,
            StringConstraints(max_length=TIMESTAMP_MAX),
            Field(json_schema_extra={"pattern": ISO_8601_PATTERN}),
        ]
        | None
    ) = None
    custom_details: CustomDetails | None = None

    @field_validator("timestamp")
    @classmethod
    def _iso_8601(cls, value: str | None) -> str | None:
        if value:
            parse_timestamp(value)
        return value or None


class PagerDutyChangeEvent(BaseModel):
    """A Change Events API body; `routing_key` is checked by the endpoint, not here."""

    model_config = ConfigDict(extra="ignore")

    payload: ChangePayload
    links: list[ChangeLink] = Field(default_factory=list, max_length=LINKS_MAX)


def _field_error(error: Mapping[str, Any]) -> dict[str, str]:
    """One pydantic error as the field at fault and PagerDuty's wording of it."""
    field = ".".join(str(part) for part in error["loc"])
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in ("missing", "string_too_short", "blank_text"):
        text = "is missing or blank"
    elif kind == "string_too_long":
        text = f"is too long (maximum {ctx['max_length']} characters)"
    elif kind == "too_long":
        text = f"has too many entries (maximum {ctx['max_length']})"
    elif kind in ("timestamp", "too_large"):
        text = error["msg"]
    else:
        text = f"is invalid ({error['msg']})"
    return {"field": field, "message": text}


def parse(body: Mapping[str, Any], *, received_at: datetime) -> ChangeIn:
    """The change a body reports, received at `received_at`.

    FormatError names each field at fault; `pagerduty.error_strings` words them
    as PagerDuty's `errors` list.
    """
    try:
        event = PagerDutyChangeEvent.model_validate(body)
    except ValidationError as exc:
        fields = [_field_error(error) for error in exc.errors()]
        raise FormatError("Event object is invalid", fields) from None
    return to_change(event, received_at=received_at)


def to_change(event: PagerDutyChangeEvent, *, received_at: datetime) -> ChangeIn:
    """A clock ahead of ours cannot keep a change "recent" for ever: it happened at the
    latest when it arrived."""
    body = event.payload
    changed_at = received_at
    if body.timestamp:
        changed_at = min(parse_timestamp(body.timestamp), received_at)
    details: dict[str, Any] = {}
    if body.custom_details is not None:
        custom = body.custom_details.model_dump()
        if custom.get("service") is None:
            custom.pop("service", None)
        details["custom_details"] = custom
    if event.links:
        details["links"] = [link.model_dump(exclude_none=True) for link in event.links]
    if body.timestamp:
        details["timestamp"] = body.timestamp
    return ChangeIn(
        summary=body.summary,
        source=body.source,
        service=body.custom_details.service if body.custom_details else None,
        changed_at=changed_at,
        details=details,
    )
