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
# A send that arrived while its person's first page was gathering comes back this
# long after the gathering ends: by then the first page's claim has taken it.
COALESCE_MARGIN_S = 1.0
# A window opened less than this long ago is treated as still gathering.
CLAIM_RACE_S = 0.5


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


def bundle_hold(channel: str, destination: str, notification_id: int) -> float:
    """0 when this send may go now, else the seconds to come back after.

    The first send for a person opens their bundle window (SET NX: two sends
    racing here cannot both go out as separate messages) and owns it. With a
    coalescing window set, the owner first comes back after it, and whatever
    else arrived for the person meanwhile leaves with it (`coalescing_hold`).
    Others wait for the window to close, then leave together as one bundle.
    """
    settings = context.settings()
    window = settings.bundle_window_s
    if window <= 0:
        return 0.0
    coalesce = min(settings.coalesce_window_s, window)
    client = context.redis_client()
    key = _window_key(channel, destination)
    owner = str(notification_id)
    if client.set(key, owner, nx=True, px=int(window * 1000)):
        return coalesce
    held_by, remaining_ms = client.get(key), client.pttl(key)
    if remaining_ms is None or remaining_ms < 0 or _as_text(held_by) == owner:
        return 0.0  # no window (it just closed), or ours: back from coalescing
    # However short the coalescing window, a send that lost the race for a window
    # opened a moment ago (two held sends for one person released by the same
    # tick) waits only until the winner's claim has taken it along.
    return coalescing_hold(window, max(coalesce, CLAIM_RACE_S), remaining_ms / 1000)


def coalescing_hold(window_s: float, coalesce_s: float, remaining_s: float) -> float:
    """How long a send for a person whose window is open waits. Pure.

    While the owner is still gathering (the first `coalesce_s` of the window),
    the send waits only until just after the owner leaves: the owner's claim
    takes it along, and this wait is a safety net that finds it already sent.
    Later, it waits for the window to close.
    """
    left_coalescing = coalesce_s - (window_s - remaining_s)
    if left_coalescing > 0:
        return left_coalescing + COALESCE_MARGIN_S
    return min(MAX_COUNTDOWN_S, max(GO_NOW_S, remaining_s))


def _as_text(value: object) -> str | None:
    return value.decode() if isinstance(value, bytes) else None if value is None else str(value)


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


def space_before_request(checks: Checks) -> float:
    """`hold_send_spacing`, where Redis being unreachable skips the wait; the wait.

    The slot was booked at the gate; the final spacing is a refinement, and a
    send claimed (or an answer promised) must not be stranded by a Redis hiccup.
    """
    try:
        return hold_send_spacing(checks)
    except redis.RedisError as exc:
        log.warning("send spacing skipped, Redis unavailable: %s", exc)
        return 0.0
