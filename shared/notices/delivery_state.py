"""The states of a notice's send and of each delivery, and the moves between them.

Pure. The store applies every move as a compare-and-set on the allowed source
states, so two workers, a late delivery report and a cancel racing on one row
cannot move it backwards or both win.

A delivery is sent at most once: `claimed` is committed before the request,
and a claimed row goes back to `pending` only when the request provably never
reached Plivo (refused connection, an answer saying so) or when Plivo's own
list of messages shows it never arrived (shared.notices.provider_match).
"""

from __future__ import annotations

from enum import StrEnum


class SendState(StrEnum):
    SCHEDULED = "scheduled"  # created with its deliveries; no batch has run yet
    SENDING = "sending"  # batches are going out
    DONE = "done"  # nothing left pending or claimed
    MISSED = "missed"  # found past the grace period: never sent, reported
    CANCELLED = "cancelled"  # its notice was cancelled: nothing more goes out


# A send whose batches still have work to do.
OPEN_SENDS: frozenset[SendState] = frozenset({SendState.SCHEDULED, SendState.SENDING})


class DeliveryState(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"  # in a batch whose request may be under way
    HANDED_OFF = "handed_off"  # Plivo accepted it (its uuid is known)
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"  # never sent: see SkipReason


class SkipReason(StrEnum):
    OPTED_OUT = "opted_out"  # the number replied STOP
    CANCELLED = "cancelled"  # the notice was cancelled first


D = DeliveryState

ALLOWED: dict[DeliveryState, frozenset[DeliveryState]] = {
    D.PENDING: frozenset({D.CLAIMED, D.SKIPPED}),
    # From CLAIMED: accepted; a report that overtook our own record of the answer;
    # refused (an invalid number, a permanent error); back to pending when the
    # request never reached Plivo; skipped when the number opted out meanwhile.
    D.CLAIMED: frozenset({D.HANDED_OFF, D.DELIVERED, D.FAILED, D.PENDING, D.SKIPPED}),
    D.HANDED_OFF: frozenset({D.DELIVERED, D.FAILED}),
    D.DELIVERED: frozenset(),
    D.FAILED: frozenset(),
    D.SKIPPED: frozenset(),
}

# Every state a delivery has left to go through: a send with none of these is over.
UNFINISHED: frozenset[DeliveryState] = frozenset({D.PENDING, D.CLAIMED})


def sources_for(target: DeliveryState) -> frozenset[DeliveryState]:
    """The states from which `target` may be reached: the WHERE of a compare-and-set."""
    return frozenset(state for state, targets in ALLOWED.items() if target in targets)


# What a Plivo SMS status means for a notice delivery.
_REPORTED: dict[str, DeliveryState] = {
    "queued": D.HANDED_OFF,
    "sent": D.HANDED_OFF,
    "delivered": D.DELIVERED,
    "undelivered": D.FAILED,
    "failed": D.FAILED,
    "rejected": D.FAILED,  # older name of "failed"
}


def state_for_report(status: str) -> DeliveryState | None:
    """Our state for a Plivo SMS `Status`, or None for a status we do not know."""
    return _REPORTED.get(status.strip().lower())


def is_final_report(status: str) -> bool:
    """Delivered or not: the report that settles a delivery for good."""
    return state_for_report(status) in (D.DELIVERED, D.FAILED)
