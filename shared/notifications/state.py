"""The one state machine of a notification (one SMS or call to one person).

Pure: which moves are allowed, and what a Plivo status means. The database
layer applies a move with a compare-and-set on the current state, so two
workers racing on one row cannot both win, and a late or repeated callback
cannot move a notification backwards.
"""

from __future__ import annotations

from enum import StrEnum


class NotificationState(StrEnum):
    PENDING = "pending"  # planned, not yet handed to Plivo
    SENDING = "sending"  # a worker owns it and is talking to Plivo
    UNKNOWN = "unknown"  # the request may have reached Plivo; no answer came back
    QUEUED = "queued"  # Plivo accepted it
    SENT = "sent"  # Plivo handed it to the carrier
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    # Stopped before any request left (acknowledged, resolved, opted out), also
    # after a claim: an acknowledgement during the final spacing wait.
    CANCELLED = "cancelled"


S = NotificationState

TERMINAL: frozenset[NotificationState] = frozenset(
    {S.DELIVERED, S.UNDELIVERED, S.FAILED, S.CANCELLED}
)

# Notifications that may still reach someone: neither ended nor stopped. While
# one of a step is live, a single failure does not move the chain on.
LIVE: frozenset[NotificationState] = frozenset(S) - TERMINAL

# Provider-reported progress: a report may only move a notification forward.
_PROVIDER_PROGRESS = (S.QUEUED, S.SENT)
_PROVIDER_FINAL = (S.DELIVERED, S.UNDELIVERED, S.FAILED)

ALLOWED: dict[NotificationState, frozenset[NotificationState]] = {
    S.PENDING: frozenset({S.SENDING, S.CANCELLED}),
    # From SENDING: accepted, or a report that overtook our own bookkeeping,
    # or back to PENDING when the request provably never left, or ambiguous,
    # or CANCELLED when its alert closed before the request was made.
    S.SENDING: frozenset(
        {S.PENDING, S.UNKNOWN, S.CANCELLED, *_PROVIDER_PROGRESS, *_PROVIDER_FINAL}
    ),
    S.UNKNOWN: frozenset({S.PENDING, *_PROVIDER_PROGRESS, *_PROVIDER_FINAL}),
    S.QUEUED: frozenset({S.SENT, *_PROVIDER_FINAL}),
    S.SENT: frozenset(_PROVIDER_FINAL),
    S.DELIVERED: frozenset(),
    S.UNDELIVERED: frozenset(),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
}


def sources_for(target: NotificationState) -> frozenset[NotificationState]:
    """Every state from which `target` may be reached: the WHERE of a compare-and-set."""
    return frozenset(state for state, targets in ALLOWED.items() if target in targets)


PLIVO_SMS_STATUS: dict[str, NotificationState] = {
    "queued": S.QUEUED,
    "sent": S.SENT,
    "delivered": S.DELIVERED,
    "undelivered": S.UNDELIVERED,
    "failed": S.FAILED,
    "rejected": S.FAILED,  # older name of "failed"
}

# Only these SMS error codes are documented by Plivo as temporary.
RETRYABLE_SMS_ERROR_CODES: frozenset[str] = frozenset({"20", "80"})


def state_for_sms_status(status: str) -> NotificationState | None:
    """Our state for a Plivo SMS `Status`, or None for one we do not know."""
    return PLIVO_SMS_STATUS.get(status.strip().lower())
