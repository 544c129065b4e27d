"""What a failed send request means, and when to try again.

One decision for SMS and calls, so both channels treat an ambiguous request,
a retryable error and a permanent one alike: exponential backoff with full
jitter, a bounded number of times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from shared.notifications.state import NotificationState

# With the backoff below, 10 attempts span about 2 to 4 minutes: enough to ride
# out a provider outage of a couple of minutes, after which the page fails and
# the chain moves on rather than waiting for ever.
MAX_SEND_ATTEMPTS = 10
BASE_DELAY_S = 1.0
MAX_DELAY_S = 60.0


def retry_delay(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    Full jitter spreads the retries of many workers hit by the same outage,
    so they do not all knock on Plivo in the same second when it comes back.
    """
    ceiling = min(MAX_DELAY_S, BASE_DELAY_S * (2 ** max(0, attempt - 1)))
    return (rng or random).uniform(ceiling / 2, ceiling)


def may_retry(attempts_made: int) -> bool:
    return attempts_made < MAX_SEND_ATTEMPTS


class FailureOutcome(StrEnum):
    """The three meanings of a failed request (also the send task's result)."""

    AMBIGUOUS = "ambiguous"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class FailedRequest:
    """What to do about one failed request.

    `state` is where the notification goes; `delay_s` is how long until the
    next move: the backoff before a retry, the wait for the message's own
    status callback before Plivo is asked (ambiguous), 0 when it failed.
    """

    outcome: FailureOutcome
    state: NotificationState
    delay_s: float


def after_failed_request(
    *,
    ambiguous: bool,
    retryable: bool,
    attempts: int,
    reconcile_grace_s: float,
    rng: random.Random | None = None,
) -> FailedRequest:
    """Decide what a failed request means.

    Ambiguous (the request may have reached Plivo): never resent blindly; its
    callback (which carries our id) or a reconcile settles it. Retryable: back
    to pending with a jittered backoff, while attempts remain. Otherwise failed
    at once, and escalation moves on.
    """
    if ambiguous:
        return FailedRequest(FailureOutcome.AMBIGUOUS, NotificationState.UNKNOWN, reconcile_grace_s)
    if retryable and may_retry(attempts):
        return FailedRequest(
            FailureOutcome.RETRY, NotificationState.PENDING, retry_delay(attempts, rng)
        )
    return FailedRequest(FailureOutcome.FAILED, NotificationState.FAILED, 0.0)
