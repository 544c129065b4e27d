"""Who may post as which integration: per-integration tokens and Grafana's HMAC.

`INTEGRATION_TOKENS` gives each integration its own tokens
(`alertmanager=tok1,grafana=tok2,pagerduty=tok3`; repeat a name for several),
so a token leaked from one tool's configuration cannot post as another.
An integration with no entry accepts `API_TOKENS`, so a small deployment
needs one token only.

The credential also decides the scope an event acts in (`Credential.scope`):
"api" for the shared API tokens, else the integration's own name. Alerts are
stored and looked up by dedup key within that scope, so one integration's
token can neither join nor close another's alerts.

`token_matches` is the one check every ingestion endpoint uses. It compares
the value exactly as presented (nothing stripped: no input can turn "blank"
and skip the check), refuses an empty one, and is constant-time over every
candidate, so timing reveals neither which token nor how much of a guess
matched. Nothing here logs a token or a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass

from shared.alerts.store import API_SCOPE
from shared.core.settings import Settings

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
            raise IntegrationConfigError(f"INTEGRATION_TOKENS: entry {position} must be name=token")
        if name not in INTEGRATIONS:
            raise IntegrationConfigError(
                f"INTEGRATION_TOKENS: entry {position} names unknown integration {name!r} "
                f"(known: {', '.join(INTEGRATIONS)})"
            )
        tokens.setdefault(name, []).append(token)
    return {name: tuple(values) for name, values in tokens.items()}


@dataclass(frozen=True)
class Credential:
    """What an endpoint accepts, and the scope an event sent with it acts in."""

    scope: str
    tokens: tuple[str, ...]


def credential_for(settings: Settings, integration: str | None) -> Credential:
    """The tokens an endpoint accepts and their scope.

    `None` is the alert API itself (API_TOKENS, scope "api"). An integration
    with tokens of its own accepts only those, in its own scope; one without
    accepts API_TOKENS, in scope "api", as the API does.
    """
    if integration is None:
        return Credential(API_SCOPE, settings.ingest_tokens)
    if integration not in INTEGRATIONS:
        raise ValueError(f"unknown integration {integration!r}")
    own = parse_integration_tokens(settings.integration_tokens).get(integration)
    if own:
        return Credential(integration, own)
    return Credential(API_SCOPE, settings.ingest_tokens)


def _digest(value: str) -> bytes:
    # Equal-length digests: the comparison's time says nothing about a token's length.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def token_matches(presented: object, valid: Iterable[str]) -> bool:
    """True when `presented` is a non-empty string equal to one of `valid`.

    The one credential check of every ingestion endpoint: exact (the raw
    value, nothing stripped), and constant-time over all candidates.
    """
    if not isinstance(presented, str) or not presented:
        return False
    presented_digest = _digest(presented)
    matched = False
    for token in valid:
        matched |= hmac.compare_digest(presented_digest, _digest(token)) and bool(token)
    return matched


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of an HMAC check; `reason` is for logs and answers, never secret."""

    ok: bool
    reason: str = ""
    header: str = GRAFANA_SIGNATURE_HEADER  # the header at fault


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
    """Check Grafana's `X-Grafana-Alerting-Signature` over `timestamp:body`.

    The timestamp (Unix seconds, Grafana's `timestampHeader`) is required and
    must be within `max_skew` of `now`: a signature over the body alone stays
    valid for ever, so a captured request could be replayed at any later time.
    """
    if not signature or not signature.strip():
        return SignatureCheck(False, "missing signature")
    presented = signature.strip().lower()
    if presented.startswith("sha256="):
        presented = presented[len("sha256=") :]
    timestamp_header = GRAFANA_TIMESTAMP_HEADERS[0]
    if timestamp is None or not timestamp.strip():
        return SignatureCheck(False, "missing timestamp", timestamp_header)
    timestamp = timestamp.strip()
    try:
        signed_at = float(timestamp)
    except ValueError:
        return SignatureCheck(False, "timestamp is not Unix seconds", timestamp_header)
    if not math.isfinite(signed_at):
        return SignatureCheck(False, "timestamp is not Unix seconds", timestamp_header)
    current = time.time() if now is None else now
    if abs(current - signed_at) > max_skew:
        return SignatureCheck(False, "timestamp outside the allowed window", timestamp_header)
    expected = grafana_signature(secret, body, timestamp)
    if not hmac.compare_digest(presented.encode(), expected.encode()):
        return SignatureCheck(False, "signature does not match")
    return SignatureCheck(True)
