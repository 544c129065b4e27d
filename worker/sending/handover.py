"""What the tick hands over: the time limits that tell lost or stuck work from
work still under way, and each due send's priority. Pure, with `now` passed in.

The tick's queries select by these limits; keeping them here means one place
says what "lost", "stuck" and "never routed" mean.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.notifications.priority import page_priority
from worker.sending.gate import MAX_SPACING_SLEEP_S

# An alert is normally routed within milliseconds of being stored.
UNROUTED_AFTER = timedelta(seconds=10)
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


def stuck_sending_after(longest_request_s: float) -> timedelta:
    """How long a claimed send may stay "sending" while its worker is alive: the
    longest request the Plivo client allows, the spacing sleep before it, a margin."""
    return timedelta(seconds=longest_request_s + MAX_SPACING_SLEEP_S + STUCK_MARGIN_S)


def cutoffs(
    now: datetime,
    requeue_lost_after_s: float,
    longest_request_s: float = DEFAULT_LONGEST_REQUEST_S,
) -> Cutoffs:
    """The tick's limits at `now`; `requeue_lost_after_s` is longer than any
    legitimate wait in the broker (a rate-limit or retry countdown), and
    `longest_request_s` is the Plivo client's connect plus read timeout."""
    return Cutoffs(
        now=now,
        unrouted_before=now - UNROUTED_AFTER,
        lost_before=now - timedelta(seconds=requeue_lost_after_s),
        stuck_before=now - stuck_sending_after(longest_request_s),
        reconcile_before=now - RECONCILE_AGAIN_AFTER,
    )


@dataclass(frozen=True)
class DueSend:
    """A notification the tick hands to its channel's sender, at its page priority."""

    notification_id: int
    channel: str
    priority: int


def due_sends(rows: Iterable[tuple[int, str, str, int, int]]) -> list[DueSend]:
    """(id, channel, alert severity, round, attempt) rows as sends with their priority:
    a critical first page overtakes a backlog of repeats and warnings."""
    return [
        DueSend(nid, channel, page_priority(severity, round=round, attempt=attempt))
        for nid, channel, severity, round, attempt in rows
    ]
