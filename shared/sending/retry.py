"""When to try a failed send again: exponential backoff with full jitter, bounded."""

from __future__ import annotations

import random

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
