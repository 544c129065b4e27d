"""What the tick and the hand-over of sends hand over: the time limits that tell
lost or stuck work from work still under way, and each due send's priority. Pure,
with `now` passed in.

Their queries (worker.tasks.tick, worker.tasks.hand_over_sends) select by these
limits; keeping them here means one place says what "lost", "stuck" and "never
routed" mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.core.settings import Settings
from shared.notifications.priority import page_priority
from worker.sending.gate import MAX_SPACING_SLEEP_S

# An alert is normally routed within milliseconds of being stored.
UNROUTED_AFTER = timedelta(seconds=10)
# Waits up to this long are countdowns in the broker; a longer one (a rate-limit
# slot far ahead, a retry's backoff, a bundle window) is kept in the database as
# the send's due time. A countdown is lost with a worker that dies holding it, and
# then only the lost-work sweep (REQUEUE_LOST_AFTER_S) finds it: the longest wait
# in the broker sets how soon that sweep may count work as lost.
BROKER_HOLD_MAX_S = 5.0
# A send is handed over this long before it is due, with a countdown to its
# due time: a rate-limit slot booked for it is kept to the millisecond.
HANDOVER_LEAD_S = 2.0
# A booked slot the hand-over reaches later than this (the hand-over was late) is let
# go: the send books again rather than go out bunched with the sends booked after it.
LATE_SLOT_S = 0.5
# A send holds "sending" for one request (bounded by the client's timeouts) and
# at most a second of spacing; longer than that, plus a margin for the commit,
# means the worker died mid-request. A send whose claimer's liveness key lapsed is
# handed over sooner (worker.sending.liveness); this is the limit for the rest.
STUCK_MARGIN_S = 1.0
DEFAULT_LONGEST_REQUEST_S = 3.05 + 8.0  # the client's default connect + read timeouts
RECONCILE_AGAIN_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Cutoffs:
    """Each a time: work older than it (strictly before) is handed over again."""

    now: datetime
    unrouted_before: datetime  # a triggered alert created earlier and never routed
    lost_before: datetime  # a due send or escalation step handed over earlier (or never)
    stuck_before: datetime  # a notification "sending" since earlier: its worker died
    reconcile_before: datetime  # an unknown send unchanged and unasked since earlier

    @property
    def hand_over_before(self) -> datetime:
        """A pending send due before this is handed over now, with its countdown."""
        return self.now + timedelta(seconds=HANDOVER_LEAD_S)


def stuck_sending_after(longest_request_s: float) -> timedelta:
    """How long a claimed send may stay "sending" while its worker is alive: the
    longest request the Plivo client allows, the spacing sleep before it, a margin."""
    return timedelta(seconds=longest_request_s + MAX_SPACING_SLEEP_S + STUCK_MARGIN_S)


def cutoffs(
    now: datetime,
    requeue_lost_after_s: float,
    longest_request_s: float = DEFAULT_LONGEST_REQUEST_S,
) -> Cutoffs:
    """The hand-over limits at `now`; `requeue_lost_after_s` is longer than any
    legitimate wait in the broker (BROKER_HOLD_MAX_S) with a margin, and
    `longest_request_s` is the Plivo client's connect plus read timeout."""
    return Cutoffs(
        now=now,
        unrouted_before=now - UNROUTED_AFTER,
        lost_before=now - timedelta(seconds=requeue_lost_after_s),
        stuck_before=now - stuck_sending_after(longest_request_s),
        reconcile_before=now - RECONCILE_AGAIN_AFTER,
    )


def cutoffs_for(settings: Settings, now: datetime) -> Cutoffs:
    """`cutoffs` at `now` by the deployment's settings: the lost-work delay and the
    Plivo client's timeouts (the tick and the hand-over of sends read the same)."""
    return cutoffs(
        now,
        settings.requeue_lost_after_s,
        settings.plivo_connect_timeout + settings.plivo_read_timeout,
    )


@dataclass(frozen=True)
class DueSend:
    """A notification handed to its channel's sender, at its page priority,
    to run `countdown_s` from now, into the rate-limit slot booked for it or not."""

    notification_id: int
    channel: str
    priority: int
    countdown_s: float = 0.0
    slot_booked: bool = False


# (id, channel, alert severity, round, attempt, due at, slot booked)
DueRow = tuple[int, str, str, int, int, datetime, bool]


def due_sends(rows: Iterable[DueRow], now: datetime) -> list[DueSend]:
    """The rows as sends, each with its priority (a critical first page overtakes a
    backlog of repeats and warnings) and its countdown to its due time. A booked
    slot is kept only when the send is handed over in time for it."""
    return [
        DueSend(
            nid,
            channel,
            page_priority(severity, round=round, attempt=attempt),
            countdown_s=max(0.0, (due_at - now).total_seconds()),
            slot_booked=slot_booked and (now - due_at).total_seconds() <= LATE_SLOT_S,
        )
        for nid, channel, severity, round, attempt, due_at, slot_booked in rows
    ]
