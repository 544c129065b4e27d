"""Wait for a rate-limit slot without holding a worker: book it, come back at it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

import redis

from shared.core.metrics import SEND_DELAY, SENDS_DELAYED
from shared.core.models import Notification, utcnow
from shared.sending.limits import Checks
from shared.sending.rate_limiter import Guard, Limit
from worker import context
from worker.sending.window_takeover import may_be_orphaned, take_over_if_orphaned

log = logging.getLogger(__name__)

# A slot is booked at most this far ahead; a longer wait comes back then and books
# again. A wait longer than a few seconds is kept in the database, not the broker
# (worker.sending.come_back).
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
    # Another send holds the person's bundle window (`window_then_gate`): nothing booked.
    window_held: bool = False


def pass_gate(checks: Checks, *, slot_booked: bool, window: Guard | None = None) -> Gate:
    """Go now, or the delay to come back after (with the slot already ours or not).
    `window`: book only if this send opens (or already owns) that bundle window."""
    if slot_booked:
        return Gate(go=True)
    reservation = context.limiter().reserve(checks, max_delay_s=MAX_COUNTDOWN_S, guard=window)
    if reservation.guard_held_s is not None:
        return Gate(go=False, window_held=True)
    SEND_DELAY.set(reservation.delay_s)
    if reservation.booked and reservation.delay_s <= GO_NOW_S:
        return Gate(go=True)
    SENDS_DELAYED.labels(limit=reservation.blocked_by or "unknown").inc()
    return Gate(
        go=False,
        delay_s=min(MAX_COUNTDOWN_S, max(GO_NOW_S, reservation.delay_s)),
        slot_booked=reservation.booked,
    )


# A send is handed over ahead, with a countdown to its due time
# (worker.sending.handover); a worker whose clock runs a little behind the host that
# handed it over must not find it early and leave it for the lost-work sweep.
DUE_EARLY_S = 0.25


def is_due(notification: Notification) -> bool:
    return notification.due_at <= utcnow() + timedelta(seconds=DUE_EARLY_S)


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


def window_then_gate(
    checks: Checks, channel: str, destination: str, notification_id: int
) -> tuple[Gate, bool]:
    """`bundle_hold` then `pass_gate`, in one round trip to Redis, for a send that
    takes no coalescing window (a first page): the slot is booked only if this send
    opens the person's bundle window or already owns it. With `window_held` nobody
    booked anything, and the ordinary path works out how long to wait. The flag:
    whether a window was opened (or owned), to release if the send is abandoned."""
    guard = _window_guard(channel, destination, notification_id)
    if guard is None:
        return pass_gate(checks, slot_booked=False), False
    gate = pass_gate(checks, slot_booked=False, window=guard)
    return gate, not gate.window_held


def _window_guard(channel: str, destination: str, notification_id: int) -> Guard | None:
    """The person's bundle window as this send opens and owns it; None when no window
    is configured. One place for its key, owner and length (`bundle_hold` too)."""
    window_s = context.settings().bundle_window_s
    if window_s <= 0:
        return None
    return Guard(_window_key(channel, destination), str(notification_id), int(window_s * 1000))


def bundle_hold(channel: str, destination: str, notification_id: int) -> float:
    """0 when this send may go now, else the seconds to come back after.

    The first send for a person opens their bundle window (SET NX: two sends
    racing here cannot both go out as separate messages) and owns it. With a
    coalescing window set, the owner first comes back after it, and whatever
    else arrived for the person meanwhile leaves with it (`coalescing_hold`).
    Others wait for the window to close, then leave together as one bundle.
    """
    guard = _window_guard(channel, destination, notification_id)
    if guard is None:
        return 0.0
    window = context.settings().bundle_window_s
    coalesce = min(context.settings().coalesce_window_s, window)
    client = context.redis_client()
    if client.set(guard.key, guard.owner, nx=True, px=guard.ttl_ms):
        return coalesce
    held_by, remaining_ms = _as_text(client.get(guard.key)), client.pttl(guard.key)
    if remaining_ms is None or remaining_ms < 0 or held_by == guard.owner:
        return 0.0  # no window (it just closed), or ours: back from coalescing
    if (
        held_by is not None
        and may_be_orphaned(window, remaining_ms / 1000)
        and take_over_if_orphaned(client, guard, held_by, channel, destination)
    ):
        return coalesce  # its owner was never stored: this send opens it now
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


# A claimed send sleeps at most this long for its release: the tick takes a send
# "sending" for longer than its request and this sleep as stuck (handover.py).
MAX_SPACING_SLEEP_S = 1.0
# The last check before a request starts this long before its release, so that the
# request leaves on time instead of a database read late (flow._deliver).
CHECK_LEAD_S = 0.03


@dataclass(frozen=True)
class Spacing:
    """A send's release: it may leave `waited_s` after booking, at `release_at`
    (time.monotonic()); or, when `hand_back_after_s` is set, no release lay within
    MAX_SPACING_SLEEP_S and nothing was recorded: the send must not go now, and may
    ask again after it."""

    waited_s: float = 0.0
    hand_back_after_s: float | None = None
    release_at: float = 0.0


def book_release(checks: Checks, cost: int = 1) -> Spacing:
    """Book the request's release in the release log (shared.sending.release_log).

    The gate's slot put this send within milliseconds of its turn, so the
    release is near; it is what turns "booked 208 ms apart" into "no second at
    Plivo holding one request too many". A release further away than
    MAX_SPACING_SLEEP_S (a storm's sends bunched up behind a busy machine) is
    not booked, and a claimed send is handed back rather than sent early or
    held past the time the tick would take it for stuck. `cost`: the messages
    one request carries (a bulk notice).
    """
    release = context.release_log().book(checks, max_delay_s=MAX_SPACING_SLEEP_S, cost=cost)
    if not release.booked:
        return Spacing(hand_back_after_s=release.delay_s)
    delay = max(0.0, release.delay_s)
    return Spacing(waited_s=delay, release_at=time.monotonic() + delay)


def sleep_until(moment: float) -> None:
    """Sleep until `moment` on time.monotonic(); at once when it has passed."""
    left = moment - time.monotonic()
    if left > 0:
        time.sleep(left)


def hold_send_spacing(checks: Checks, cost: int = 1) -> Spacing:
    """`book_release`, then sleep until the release."""
    spacing = book_release(checks, cost)
    if spacing.hand_back_after_s is None:
        sleep_until(spacing.release_at)
    return spacing


def space_before_request(checks: Checks) -> Spacing:
    """`book_release`, where Redis being unreachable means "go now" (nothing booked).

    The slot was booked at the gate; the release is a refinement, and a send
    claimed (or an answer promised) must not be stranded by a Redis hiccup.
    """
    try:
        return book_release(checks)
    except redis.RedisError as exc:
        log.warning("send spacing skipped, Redis unavailable: %s", exc)
        return Spacing(release_at=time.monotonic())


def wait_for_release(checks: Checks) -> float:
    """Book and wait for the release of a request nobody claimed in the database (an
    answer to an inbound text), however long it takes; the seconds waited."""
    started = time.monotonic()
    while True:
        spacing = space_before_request(checks)
        if spacing.hand_back_after_s is None:
            sleep_until(spacing.release_at)
            return time.monotonic() - started
        time.sleep(min(MAX_SPACING_SLEEP_S, max(GO_NOW_S, spacing.hand_back_after_s)))
