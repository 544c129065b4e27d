"""Who may post as which integration: per-integration tokens and Grafana's HMAC.

`INTEGRATION_TOKENS` gives each integration its own tokens
(`alertmanager=tok1,grafana=tok2,pagerduty=tok3`; repeat a name for several),
so a token leaked from one tool's configuration cannot post as another.
An integration with no entry accepts `API_TOKENS`, so a small deployment
needs one token only.

Every comparison is constant-time and runs over every candidate, so timing
reveals neither which token nor how much of a guess matched. Nothing here
logs a token or a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from shared.settings import Settings

INTEGRATIONS = ("alertmanager", "grafana", "pagerduty")

# Grafana's default signature header, and the timestamp header names in use:
# Grafana has no default for the latter, its documentation's example and the
# name its provisioning examples use.
GRAFANA_SIGNATURE_HEADER = "X-Grafana-Alerting-Signature"
GRAFANA_TIMESTAMP_HEADERS = (
    "X-Grafana-Alerting-Signature-Timestamp",
    "X-Grafana-Alerting-Timestamp",
)
# A signed timestamp older (or further ahead) than this is a replay, or a clock to fix.
GRAFANA_MAX_SKEW_SECONDS = 300


class IntegrationConfigError(ValueError):
    """INTEGRATION_TOKENS is malformed; the message names the entry, never a token."""


def parse_integration_tokens(raw: str) -> dict[str, tuple[str, ...]]:
    """`alertmanager=a,grafana=b,grafana=c` as `{"alertmanager": ("a",), "grafana": ("b", "c")}`."""
    tokens: dict[str, list[str]] = {}
    for position, entry in enumerate(raw.split(","), start=1):
        if not entry.strip():
            continue
        name, sep, token = entry.partition("=")
        name, token = name.strip().lower(), token.strip()
        if not sep or not token:
            raise IntegrationConfigError(
                f"INTEGRATION_TOKENS: entry {position} must be name=token"
            )
        if name not in INTEGRATIONS:
            raise IntegrationConfigError(
                f"INTEGRATION_TOKENS: entry {position} names unknown integration {name!r} "
                f"(known: {', '.join(INTEGRATIONS)})"
            )
        tokens.setdefault(name, []).append(token)
    return {name: tuple(values) for name, values in tokens.items()}


def tokens_for(settings: Settings, integration: str) -> tuple[str, ...]:
    """The tokens `integration` accepts: its own, else the API tokens."""
    if integration not in INTEGRATIONS:
        raise ValueError(f"unknown integration {integration!r}")
    own = parse_integration_tokens(settings.integration_tokens).get(integration)
    return own or settings.ingest_tokens


def token_matches(presented: str, valid: Iterable[str]) -> bool:
    """True when `presented` equals one of `valid`, compared in constant time, all of them."""
    presented_bytes = presented.encode()
    matched = False
    for token in valid:
        matched |= hmac.compare_digest(presented_bytes, token.encode())
    return matched and bool(presented)


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of an HMAC check; `reason` is for logs and answers, never secret."""

    ok: bool
    reason: str = ""


def grafana_signature(secret: str, body: bytes, timestamp: str | None = None) -> str:
    """Grafana's signature: hex HMAC-SHA256 of the body, or of `timestamp:body` when timed."""
    message = f"{timestamp}:".encode() + body if timestamp else body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify_grafana_signature(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None = None,
    *,
    now: float | None = None,
    max_skew: float = GRAFANA_MAX_SKEW_SECONDS,
) -> SignatureCheck:
    """Check Grafana's `X-Grafana-Alerting-Signature` over the raw body.

    With a timestamp header the signed text is `timestamp:body` and the
    timestamp (Unix seconds) must be within `max_skew` of now, so a captured
    request cannot be replayed later.
    """
    if not signature or not signature.strip():
        return SignatureCheck(False, "missing signature")
    presented = signature.strip().lower()
    if presented.startswith("sha256="):
        presented = presented[len("sha256=") :]
    if timestamp is not None:
        timestamp = timestamp.strip()
        try:
            signed_at = float(timestamp)
        except ValueError:
            return SignatureCheck(False, "timestamp is not Unix seconds")
        if not math.isfinite(signed_at):
            return SignatureCheck(False, "timestamp is not Unix seconds")
        current = time.time() if now is None else now
        if abs(current - signed_at) > max_skew:
            return SignatureCheck(False, "timestamp outside the allowed window")
    expected = grafana_signature(secret, body, timestamp or None)
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        return SignatureCheck(False, "signature does not match")
    return SignatureCheck(True)
