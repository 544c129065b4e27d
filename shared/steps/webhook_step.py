"""A webhook step: the body posted, its signature, and what an answer means. Pure.

Formats: `slack` and `mattermost` post their incoming-webhook body,
`{"text": "<the alert line>\\n<how to acknowledge>"}`; `json` posts the alert
as data (below). A step naming `secret_env` signs its post with the key in that
variable: `X-Alert-Dispatch-Timestamp` is the time of the attempt in unix
seconds, and `X-Alert-Dispatch-Signature` is `sha256=` and the hex HMAC-SHA256,
under that key, of the timestamp, a `.` and the raw body. The timestamp is
inside what is signed, so a receiver that refuses one older than a few minutes
cannot be replayed an old post with a new time. `X-Alert-Dispatch-Delivery`
names the step's post (alert, round, step): every attempt of one post carries
the same, for a receiver to drop a repeat.

A post is retried on no answer, a timeout, 408, 425, 429 or a 5xx, with
exponential backoff and full jitter (shared.sending.retry.retry_delay), up to
MAX_ATTEMPTS; any other answer outside 2xx (redirects are not followed) fails
it at once. Timeouts are short: a hanging receiver holds one worker slot for
seconds, never the page of the same step, which leaves first in its own task.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from enum import StrEnum
from typing import Any

from shared.escalation.plan import Position
from shared.routing.step_kinds import WebhookFormat
from shared.sending.retry import retry_delay
from shared.steps.facts import StepAlert, ack_instructions, ack_url

SIGNATURE_HEADER = "X-Alert-Dispatch-Signature"
TIMESTAMP_HEADER = "X-Alert-Dispatch-Timestamp"
DELIVERY_HEADER = "X-Alert-Dispatch-Delivery"
# 8 attempts: backoff of about 1 + 2 + 4 + ... + 64 s, two minutes at most, then it fails.
MAX_ATTEMPTS = 8
CONNECT_TIMEOUT_S = 2.0
READ_TIMEOUT_S = 5.0
_RETRY_STATUSES = frozenset({408, 425, 429})


class PostOutcome(StrEnum):
    OK = "ok"
    RETRY = "retry"
    FAILED = "failed"


def webhook_body(
    format: WebhookFormat,
    alert: StepAlert,
    *,
    policy: str,
    position: Position,
    public_base_url: str,
) -> bytes:
    """The raw body of the post: built once per attempt, signed as these bytes."""
    instructions = ack_instructions(alert.id, public_base_url)
    if format is not WebhookFormat.JSON:
        return _encode({"text": f"{alert.line}\n{instructions}"})
    data: dict[str, Any] = {
        "alert": {
            "id": alert.id,
            "severity": alert.severity,
            "service": alert.service,
            "summary": alert.summary,
            "source": alert.source,
            "labels": alert.labels,
        },
        "policy": policy,
        "step": position.step,
        "round": position.round,
        "text": alert.line,
        "ack": {
            "instructions": instructions,
            "url": ack_url(alert.id, public_base_url),
            "cli": f"alert-dispatch ack {alert.id}",
        },
    }
    return _encode(data)


def _encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of `<timestamp>.<raw body>` under `secret`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def post_headers(
    body: bytes, *, delivery: str, secret: str | None, timestamp: int
) -> dict[str, str]:
    """The headers of one attempt: signed when the step names a secret."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "alert-dispatch",
        DELIVERY_HEADER: delivery,
    }
    if secret is not None:
        headers[TIMESTAMP_HEADER] = str(timestamp)
        headers[SIGNATURE_HEADER] = signature(secret, timestamp, body)
    return headers


def delivery_id(alert_id: int, position: Position) -> str:
    return f"alert-{alert_id}-round-{position.round}-step-{position.step}"


def post_key(alert_id: int, position: Position) -> str:
    """The dedup key of the post's outcome (posted or failed): one per fired step."""
    return f"webhook-step:{alert_id}:{position.round}:{position.step}"


def outcome_of(status: int | None) -> PostOutcome:
    """An answer's meaning; None is no answer at all (refused, timed out, reset)."""
    if status is None or status in _RETRY_STATUSES or status >= 500:
        return PostOutcome.RETRY
    if 200 <= status < 300:
        return PostOutcome.OK
    return PostOutcome.FAILED


def next_attempt_in(
    outcome: PostOutcome, attempts_made: int, rng: random.Random | None = None
) -> float | None:
    """Seconds until the next attempt after `attempts_made` (1-based), or None: done."""
    if outcome is not PostOutcome.RETRY or attempts_made >= MAX_ATTEMPTS:
        return None
    return retry_delay(attempts_made, rng)
