"""Wait for a rate-limit slot without holding a worker: book it, come back at it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import redis

from shared.core.metrics import SEND_DELAY, SENDS_DELAYED
from shared.core.models import Notification, utcnow
from shared.sending.limits import Checks
from shared.sending.rate_limiter import Limit
from worker import context

log = logging.getLogger(__name__)

# A task never sits in the broker longer than this: Redis redelivers ETA tasks
# after its visibility timeout, and a page for a resolved alert must be able to
# notice soon. A longer wait is taken in several hops.
MAX_COUNTDOWN_S = 60.0
GO_NOW_S = 0.005


@dataclass(frozen=True)
class Gate:
    go: bool
    delay_s: float = 0.0
    slot_booked: bool = False


def pass_gate(checks: Checks, *, slot_booked: bool) -> Gate:
    """Go now, or the delay to come back after (with the slot already ours or not)."""
    if slot_booked:
        return Gate(go=True)
    reservation = context.limiter().reserve(checks, max_delay_s=MAX_COUNTDOWN_S)
    SEND_DELAY.set(reservation.delay_s)
    if reservation.booked and reservation.delay_s <= GO_NOW_S:
        return Gate(go=True)
    SENDS_DELAYED.labels(limit=reservation.blocked_by or "unknown").inc()
    return Gate(
        go=False,
        delay_s=min(MAX_COUNTDOWN_S, max(GO_NOW_S, reservation.delay_s)),
        slot_booked=reservation.booked,
    )


def is_due(notification: Notification) -> bool:
    return notification.due_at <= utcnow()


PENALTY_FACTOR = 2.0
PENALTY_S = 30.0


def slow_down_account(limit: Limit) -> None:
    """Plivo said 429: halve our pace for the account for a while, then recover."""
    settings = context.settings()
    factor = context.limiter().penalize(
        f"account:{settings.plivo_auth_id}", limit, PENALTY_FACTOR, PENALTY_S
    )
    log.warning(
        "Plivo rate-limited us: %s pace slowed by x%.1f for %.0fs", limit.name, factor, PENALTY_S
    )


def _window_key(channel: str, destination: str) -> str:
    return f"bundle-window:{channel}:{destination}"


def bundle_hold(channel: str, destination: str) -> float:
    """0 when this send may go now (and opens the person's bundle window), else the
    seconds until the window closes.

    SET NX makes "am I first?" one atomic step, so two sends for the same
    person racing through here cannot both go out as separate messages.
    """
    window = context.settings().bundle_window_s
    if window <= 0:
        return 0.0
    client = context.redis_client()
    key = _window_key(channel, destination)
    if client.set(key, "1", nx=True, px=int(window * 1000)):
        return 0.0
    remaining_ms = client.pttl(key)
    if remaining_ms is None or remaining_ms < 0:
        return 0.0
    return min(MAX_COUNTDOWN_S, max(GO_NOW_S, remaining_ms / 1000))


def release_bundle_window(channel: str, destination: str) -> None:
    """The send failed: nobody was paged, so nothing should wait behind it."""
    context.redis_client().delete(_window_key(channel, destination))


MAX_SPACING_SLEEP_S = 1.0


def hold_send_spacing(checks: Checks) -> float:
    """Sleep until the request may leave, keeping sent requests spaced; the wait.

    The booked slot already put this send within milliseconds of its turn,
    so the sleep is short and bounded; it is what turns "booked 200 ms apart"
    into "arrived at Plivo at least 200 ms apart". It is the last wait of a
    claimed send: the caller checks the alert is still triggered after it.
    """
    reservation = context.limiter().reserve(checks)
    delay = min(MAX_SPACING_SLEEP_S, max(0.0, reservation.delay_s))
    if delay > 0:
        time.sleep(delay)
    return delay


def space_before_request(checks: Checks) -> None:
    """`hold_send_spacing`, where Redis being unreachable skips the wait.

    The slot was booked at the gate; the final spacing is a refinement, and a
    send claimed (or an answer promised) must not be stranded by a Redis hiccup.
    """
    try:
        hold_send_spacing(checks)
    except redis.RedisError as exc:
        log.warning("send spacing skipped, Redis unavailable: %s", exc)
