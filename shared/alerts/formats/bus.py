"""Event-bus messages (Redis Streams entries and pub/sub messages) to alerts.

Two shapes are accepted, told apart by whether the JSON has `event_type`:

1. Our own alert, the body of `POST /api/v1/alerts` (`summary`, `severity`,
   `source`, `dedup_key`, `details`, `labels`, `action`, `recipients`);
   `source` defaults to `bus`.
2. The InfraFabric bus envelope: `event_type`, `timestamp`, `entity_type`,
   `entity_id`, `status`, `data`, `tracking_id`, published on channels named
   `if.bus:<domain>:<entity>`.

Envelope mapping (docs/producers.md has the full tables):

- action: `data.action` when it is one of ours, else `status`, else the last
  part of `event_type` (`RESOLVE_WORDS`, `ACKNOWLEDGE_WORDS`); trigger otherwise.
- `dedup_key`: `data.dedup_key`, else
  `if.bus:<entity_type>:<entity_id>:<event_type less a lifecycle suffix>`, so
  `backup.failed.triggered` and `backup.failed.resolved` name the same alert.
- `summary`: `data.summary`, `data.message` or `data.description`, else
  `<entity_type> <entity_id>: <event_type> (<status>)`.
- `severity`: `data.severity` or `data.priority` through `SEVERITY_WORDS`,
  else the status through `STATUS_SEVERITY`, else error.
- `labels`: `entity_type`, `entity_id`, `event_type`, the channel's `domain`
  and `entity`, and `data.labels`.
- `details`: the whole envelope, and the channel.
- `recipients`: `data.recipients`.

A stream entry is either one field `event` holding that JSON, or the fields
themselves (`summary`, `severity`, ...; `labels`, `details`, `recipients` and
`data` may hold JSON text).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.alerts.formats import (
    SEVERITY_WORDS,
    SUMMARY_MAX,
    FormatError,
    bounded_key,
    clip,
    fields_of,
    make_alert,
    string_labels,
)
from shared.alerts.schemas import AlertAction, AlertIn, Severity, has_visible_text
from shared.core import strict_json

SOURCE = "if.bus"
NATIVE_SOURCE = "bus"
CHANNEL_PREFIX = "if.bus"
EVENT_FIELD = "event"
JSON_FIELDS = ("labels", "details", "recipients", "data")

# What an envelope's `status` (or the last word of its `event_type`) asks for.
RESOLVE_WORDS = frozenset(
    {
        "resolved",
        "resolve",
        "ok",
        "healthy",
        "up",
        "recovered",
        "cleared",
        "closed",
        "normal",
        "green",
        "online",
        "succeeded",
        "success",
    }
)
ACKNOWLEDGE_WORDS = frozenset({"acknowledged", "acknowledge", "ack", "acked"})
TRIGGER_WORDS = frozenset({"triggered", "trigger", "firing", "fired", "opened", "open", "alert"})
LIFECYCLE_WORDS = RESOLVE_WORDS | ACKNOWLEDGE_WORDS | TRIGGER_WORDS

# A status word as a severity, when `data` names none.
STATUS_SEVERITY: dict[str, Severity] = {
    **dict.fromkeys(("critical", "down", "outage", "offline", "unreachable"), Severity.CRITICAL),
    **dict.fromkeys(("failed", "failure", "error", "unhealthy"), Severity.ERROR),
    **dict.fromkeys(("degraded", "warning", "slow", "flapping"), Severity.WARNING),
}


class BusEnvelope(BaseModel):
    """The InfraFabric bus envelope; unknown fields are kept in details, never refused."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    event_type: str = Field(min_length=1, max_length=200)
    entity_type: str = Field(min_length=1, max_length=100)
    entity_id: str = Field(min_length=1, max_length=200)
    status: str | None = Field(default=None, max_length=100)
    timestamp: str | None = None
    tracking_id: str | None = Field(default=None, max_length=200)
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("entity_id", "timestamp", "tracking_id", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        # Ids and epoch timestamps often arrive as numbers; they are names to us.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("data", mode="before")
    @classmethod
    def _null_data(cls, value: Any) -> Any:
        return {} if value is None else value


def decode_json_object(raw: str | bytes, *, what: str = "message") -> dict[str, Any]:
    """Parse a bus payload with the one JSON reader; FormatError when it is not a JSON object."""
    try:
        value = strict_json.loads(raw, what=what)
    except strict_json.JsonRefused as exc:
        raise FormatError(str(exc), [{"field": "", "message": str(exc)}]) from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise FormatError(
            f"{what} is not valid JSON", [{"field": "", "message": str(exc)}]
        ) from None
    if not isinstance(value, dict):
        raise FormatError(
            f"{what} must be a JSON object",
            [{"field": "", "message": f"got {type(value).__name__}"}],
        )
    return value


def decode_stream_fields(fields: Mapping[str, str]) -> dict[str, Any]:
    """A stream entry as one JSON object: its `event` field, or its fields themselves."""
    if EVENT_FIELD in fields:
        extra = sorted(set(fields) - {EVENT_FIELD})
        if extra:
            raise FormatError(
                "stream entry with an event field must have no other fields",
                [{"field": name, "message": "unexpected field"} for name in extra],
            )
        return decode_json_object(fields[EVENT_FIELD], what="field event")
    if not fields:
        raise FormatError("stream entry is empty", [{"field": "", "message": "no fields"}])
    message: dict[str, Any] = dict(fields)
    for name in JSON_FIELDS:
        raw = message.get(name)
        if isinstance(raw, str) and raw.lstrip()[:1] in ("{", "["):
            try:
                message[name] = strict_json.loads(raw, what=f"field {name}")
            except strict_json.JsonRefused as exc:
                raise FormatError(str(exc), [{"field": name, "message": str(exc)}]) from None
            except ValueError as exc:
                raise FormatError(
                    f"field {name} is not valid JSON", [{"field": name, "message": str(exc)}]
                ) from None
    return message


def is_envelope(message: Mapping[str, Any]) -> bool:
    return "event_type" in message


def to_alerts(message: Mapping[str, Any], *, channel: str | None = None) -> list[AlertIn]:
    """A bus message, in either shape, as one alert event."""
    if is_envelope(message):
        return [envelope_to_alert(parse_envelope(message), channel=channel)]
    return [native_to_alert(message)]


def native_to_alert(message: Mapping[str, Any]) -> AlertIn:
    return make_alert(**{"source": NATIVE_SOURCE, **message})


def parse_envelope(message: Mapping[str, Any]) -> BusEnvelope:
    try:
        return BusEnvelope.model_validate(message)
    except ValidationError as exc:
        raise FormatError("invalid bus envelope", fields_of(exc)) from None


def _word(value: Any) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


def _last_part(event_type: str) -> str:
    return event_type.replace(":", ".").rsplit(".", 1)[-1].lower()


def action_of(envelope: BusEnvelope) -> AlertAction:
    """`data.action` when it names one of ours, else the status, else the event type's suffix."""
    explicit = _word(envelope.data.get("action"))
    if explicit in {action.value for action in AlertAction}:
        return AlertAction(explicit)
    for word in (_word(envelope.status), _last_part(envelope.event_type)):
        if word in RESOLVE_WORDS:
            return AlertAction.RESOLVE
        if word in ACKNOWLEDGE_WORDS:
            return AlertAction.ACKNOWLEDGE
        if word in TRIGGER_WORDS:
            return AlertAction.TRIGGER
    return AlertAction.TRIGGER


def event_stem(event_type: str) -> str:
    """`db.health.resolved` -> `db.health`: a trigger and its resolve share one key."""
    head, sep, tail = event_type.replace(":", ".").rpartition(".")
    if sep and tail.lower() in LIFECYCLE_WORDS:
        return head
    return event_type


def severity_of(envelope: BusEnvelope) -> Severity:
    for name in ("severity", "priority"):
        word = _word(envelope.data.get(name))
        if word in SEVERITY_WORDS:
            return SEVERITY_WORDS[word]
    return STATUS_SEVERITY.get(_word(envelope.status), Severity.ERROR)


def summary_of(envelope: BusEnvelope) -> str:
    for name in ("summary", "message", "description"):
        text = envelope.data.get(name)
        if isinstance(text, str) and has_visible_text(text):
            return clip(text, SUMMARY_MAX)
    status = f" ({envelope.status})" if envelope.status else ""
    return clip(
        f"{envelope.entity_type} {envelope.entity_id}: {envelope.event_type}{status}", SUMMARY_MAX
    )


def channel_labels(channel: str | None) -> dict[str, str]:
    """`if.bus:<domain>:<entity>` as labels `domain` and `entity`; other channels, `channel`."""
    if not channel:
        return {}
    parts = channel.split(":")
    if len(parts) >= 3 and parts[0] == CHANNEL_PREFIX:
        return {"domain": parts[1], "entity": ":".join(parts[2:]), "channel": channel}
    return {"channel": channel}


def envelope_to_alert(envelope: BusEnvelope, *, channel: str | None = None) -> AlertIn:
    data = envelope.data
    explicit_key = data.get("dedup_key")
    dedup_key = (
        explicit_key.strip()
        if isinstance(explicit_key, str) and has_visible_text(explicit_key)
        else bounded_key(
            SOURCE, envelope.entity_type, envelope.entity_id, event_stem(envelope.event_type)
        )
    )
    labels = {
        **channel_labels(channel),
        "entity_type": envelope.entity_type,
        "entity_id": envelope.entity_id,
        "event_type": envelope.event_type,
        **string_labels(data.get("labels") if isinstance(data.get("labels"), dict) else None),
    }
    recipients = data.get("recipients")
    details = {**envelope.model_dump(), **({"channel": channel} if channel else {})}
    try:
        return make_alert(
            summary=summary_of(envelope),
            severity=severity_of(envelope),
            source=SOURCE,
            dedup_key=dedup_key,
            details=details,
            labels=labels,
            action=action_of(envelope),
            recipients=recipients if isinstance(recipients, list) else [],
        )
    except FormatError as exc:
        # Only data.dedup_key and data.recipients can still be wrong here.
        raise FormatError(
            "invalid bus envelope",
            [{**f, "field": f"data.{f['field']}"} for f in exc.fields],
        ) from None
