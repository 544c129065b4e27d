"""The one alert shape every producer format is turned into."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from shared.phone import InvalidPhoneNumber, normalize_e164


class Severity(StrEnum):
    """Ours, most severe first. Every producer format maps onto these four."""

    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 is the most severe: sort by it to page the worst first."""
        return list(Severity).index(self)


class AlertAction(StrEnum):
    """What a producer's event asks for."""

    TRIGGER = "trigger"
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"


def _e164(value: str) -> str:
    try:
        return normalize_e164(value)
    except InvalidPhoneNumber as exc:
        raise ValueError(str(exc)) from None


PhoneNumber = Annotated[str, AfterValidator(_e164)]


def _replace_nul(value: object) -> object:
    """NUL cannot be stored in PostgreSQL text: it becomes U+FFFD (the replacement
    character) at the door, so such an alert is stored, visibly marked, instead of
    failing at storage and being retried by its producer for ever."""
    return value.replace("\x00", "\ufffd") if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_replace_nul)]


class AlertIn(BaseModel):
    """An alert as accepted from any producer.

    `dedup_key` groups repeated events about one problem: while an alert with
    that key is open, a new trigger adds an occurrence instead of paging again.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    summary: Text = Field(min_length=1, max_length=1024)
    severity: Severity = Severity.ERROR
    source: Text = Field(default="api", min_length=1, max_length=200)
    dedup_key: Text | None = Field(default=None, min_length=1, max_length=255)
    details: dict[str, Any] = Field(default_factory=dict)
    labels: dict[Text, Text] = Field(default_factory=dict)
    action: AlertAction = AlertAction.TRIGGER
    recipients: list[PhoneNumber] = Field(default_factory=list, max_length=100)
