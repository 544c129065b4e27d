"""The one alert shape every producer format is turned into."""

from __future__ import annotations

import functools
import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic_core import PydanticCustomError

from shared.core import strict_json
from shared.core.phone import InvalidPhoneNumber, normalize_e164


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


PhoneNumber = Annotated[
    str,
    AfterValidator(_e164),
    Field(
        description="An international number: + and the country code, valid for its country "
        "(spaces and punctuation are ignored); stored as E.164.",
        json_schema_extra={"format": "e164"},
    ),
]


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _replace_unstorable(value: object) -> object:
    """NUL and lone UTF-16 surrogates cannot be stored as text (PostgreSQL, SQLite):
    each becomes U+FFFD (the replacement character) at the door, so such an alert
    is stored, visibly marked, instead of failing at storage and being retried by
    its producer for ever."""
    return _UNSTORABLE.sub("\ufffd", value) if isinstance(value, str) else value


# Characters nobody can read: Unicode white space (as str.isspace() sees it,
# which includes U+001C-U+001F), control (Cc) and format (Cf) characters.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf"})


def is_invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in INVISIBLE_CATEGORIES


def has_visible_text(text: str) -> bool:
    """Whether `text` holds at least one character a person can read.

    A page whose summary is only control or format characters (or white space
    that a trim does not remove) arrives as an empty SMS: nobody knows what broke.

    The common case is decided in C: when every character is printable (no Cc, Cf
    or white space but the ASCII space), the only invisible one is that space. An
    Alertmanager body of 100 alerts checks about 2,000 label keys and values here.
    """
    if text.isprintable():
        return bool(text.strip(" "))
    return not all(is_invisible(char) for char in text)


@functools.cache
def invisible_ranges() -> tuple[tuple[int, int], ...]:
    """Every invisible code point as (first, last) ranges, for documents that spell
    the rule out (the OpenAPI patterns), from the same predicate the server applies."""
    ranges: list[tuple[int, int]] = []
    for point in range(0x110000):
        if not is_invisible(chr(point)):
            continue
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1] = (ranges[-1][0], point)
        else:
            ranges.append((point, point))
    return tuple(ranges)


def require_visible(value: str) -> str:
    """Pydantic validator: refuse (`blank_text`) text with nothing a person can read."""
    if not has_visible_text(value):
        raise PydanticCustomError(
            "blank_text",
            "must hold visible text, not only white space, control or format characters",
        )
    return value


def _json_details(value: dict[str, Any]) -> dict[str, Any]:
    """Details built in Python (the producer API) obey the JSON reader's rules too,
    so whatever is accepted can be stored and served back."""
    try:
        strict_json.check_value(value)
    except strict_json.JsonRefused as exc:
        raise PydanticCustomError("json_value", "{reason}", {"reason": str(exc)}) from None
    return value


_STORABLE = BeforeValidator(_replace_unstorable)
_VISIBLE = AfterValidator(require_visible)
# The length limits come first, so they are checked on the text itself and
# refused with pydantic's own string messages.
Text = Annotated[str, _STORABLE]
SummaryText = Annotated[str, StringConstraints(min_length=1, max_length=1024), _STORABLE, _VISIBLE]
SourceText = Annotated[str, StringConstraints(min_length=1, max_length=200), _STORABLE, _VISIBLE]
DedupKeyText = Annotated[str, StringConstraints(min_length=1, max_length=255), _STORABLE, _VISIBLE]
Details = Annotated[dict[str, Any], AfterValidator(_json_details)]


class AlertIn(BaseModel):
    """An alert as accepted from any producer.

    `dedup_key` groups repeated events about one problem: while an alert with
    that key is open, a new trigger adds an occurrence instead of paging again.
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    summary: SummaryText
    severity: Severity = Severity.ERROR
    source: SourceText = "api"
    dedup_key: DedupKeyText | None = Field(
        default=None,
        description="While an alert with this key is open, a trigger adds an occurrence and "
        "pages nobody; acknowledge and resolve find the alert by it.",
    )
    details: Details = Field(
        default_factory=dict,
        description="Any JSON object; the whole body nests at most "
        f"{strict_json.MAX_DEPTH} levels.",
    )
    labels: dict[Text, Text] = Field(default_factory=dict)
    action: AlertAction = AlertAction.TRIGGER
    recipients: list[PhoneNumber] = Field(default_factory=list, max_length=100)
