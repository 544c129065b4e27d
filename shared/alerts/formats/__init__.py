"""Producer formats turned into our one alert shape, `AlertIn`.

Each module here is a pure converter: a pydantic model of the producer's own
body, a severity table, and a function from that body to `list[AlertIn]`.
No I/O happens here, so every mapping is tested without a server, and the
HTTP endpoints and the bus bridge share exactly the same rules.

Errors are `FormatError`s that name each field at fault with the producer's
own field names (`alerts.0.fingerprint`), so a producer can fix its body
without reading our code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from shared.alerts.schemas import AlertIn, Severity

# Storage limits of AlertIn, repeated here so converters clip instead of failing
# on a producer's long text.
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255


class FormatError(ValueError):
    """A producer body we cannot turn into alerts; `fields` names each problem."""

    def __init__(self, message: str, fields: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []

    def __str__(self) -> str:
        if not self.fields:
            return self.message
        detail = "; ".join(f"{f['field'] or '(body)'}: {f['message']}" for f in self.fields)
        return f"{self.message}: {detail}"


def fields_of(exc: ValidationError, prefix: str = "") -> list[dict[str, str]]:
    """Pydantic's errors as `{"field": "alerts.0.labels", "message": ...}` entries."""
    fields = []
    for error in exc.errors():
        path = ".".join(str(part) for part in error["loc"])
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        fields.append({"field": path, "message": error["msg"]})
    return fields


# Severity words seen in labels across Prometheus rule sets, Grafana rules and
# event buses, mapped onto our four. Anything else (or nothing) is `error`:
# a producer that sent an alert to a pager meant it to page.
SEVERITY_WORDS: dict[str, Severity] = {
    **dict.fromkeys(
        (
            "critical",
            "crit",
            "emergency",
            "emerg",
            "alert",
            "fatal",
            "page",
            "p1",
            "sev1",
            "disaster",
            "high_urgency",
        ),
        Severity.CRITICAL,
    ),
    **dict.fromkeys(
        ("error", "err", "high", "major", "p2", "sev2", "severe"),
        Severity.ERROR,
    ),
    **dict.fromkeys(
        ("warning", "warn", "medium", "moderate", "minor", "average", "p3", "sev3"),
        Severity.WARNING,
    ),
    **dict.fromkeys(
        (
            "info",
            "informational",
            "information",
            "notice",
            "low",
            "none",
            "ok",
            "debug",
            "p4",
            "p5",
            "sev4",
            "sev5",
        ),
        Severity.INFO,
    ),
}
DEFAULT_SEVERITY = Severity.ERROR


def severity_from_word(word: object, default: Severity = DEFAULT_SEVERITY) -> Severity:
    """Map a producer's severity word (any case, surrounding spaces ignored) onto ours."""
    if not isinstance(word, str):
        return default
    return SEVERITY_WORDS.get(word.strip().lower(), default)


def clip(text: str, limit: int) -> str:
    """Shorten to `limit` characters with an ellipsis, so long producer text never fails."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def bounded_key(*parts: str) -> str:
    """Join key parts with ':'; a key over 255 characters keeps its head and a digest.

    The digest keeps two different long keys apart, so clipping never merges
    unrelated alerts into one.
    """
    key = ":".join(parts)
    if len(key) <= DEDUP_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: DEDUP_KEY_MAX - len(digest) - 1]}~{digest}"


def string_labels(raw: Mapping[str, Any] | None) -> dict[str, str]:
    """Labels are strings to routing; numbers and booleans are written out, null dropped."""
    labels: dict[str, str] = {}
    for key, value in (raw or {}).items():
        if value is None or isinstance(value, dict | list):
            continue
        if isinstance(value, bool):
            labels[str(key)] = "true" if value else "false"
        else:
            labels[str(key)] = str(value)
    return labels


def make_alert(**values: Any) -> AlertIn:
    """Build an AlertIn from converted values; a failure here still names the field."""
    try:
        return AlertIn.model_validate(values)
    except ValidationError as exc:
        raise FormatError("invalid alert", fields_of(exc)) from None


__all__ = [
    "DEDUP_KEY_MAX",
    "DEFAULT_SEVERITY",
    "SEVERITY_WORDS",
    "SUMMARY_MAX",
    "FormatError",
    "bounded_key",
    "clip",
    "fields_of",
    "make_alert",
    "severity_from_word",
    "string_labels",
]
