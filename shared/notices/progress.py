"""How far a notice's send has gone: counts per state, and when it should be over.

`summarize` is pure (counts, rate and `now` passed in): what `notice status`
draws as its progress bar and what per-notice gauges report. `delivery_counts`
reads the counts for one send, or for every send of a notice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.core.models import NoticeDelivery, NoticeSend
from shared.notices.delivery_state import DeliveryState, SkipReason

D = DeliveryState


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    by_state: dict[str, int]  # every DeliveryState, zero included
    skipped_by_reason: dict[str, int]  # every SkipReason, zero included
    eta: datetime | None  # None once nothing is left to send

    @property
    def remaining(self) -> int:
        """Not yet handed to Plivo: pending, or claimed by a batch under way."""
        return self.by_state[D.PENDING] + self.by_state[D.CLAIMED]

    @property
    def handed_off(self) -> int:
        """Reached Plivo: accepted, and delivered or failed since (a failure before
        Plivo took it, an invalid number, counts as failed only)."""
        return self.by_state[D.HANDED_OFF] + self.by_state[D.DELIVERED]

    @property
    def fraction_done(self) -> float:
        return 1.0 if self.total == 0 else (self.total - self.remaining) / self.total


def summarize(
    counts: Mapping[tuple[str, str | None], int], rate_per_s: float, now: datetime
) -> Progress:
    """Counts keyed by (state, skip reason), the sending rate (SMS per second), `now`.

    The ETA assumes the rate holds: pages go first and slow a notice down, so
    it is a floor; with no rate left (0) there is no estimate while work remains.
    """
    by_state = {state.value: 0 for state in DeliveryState}
    skipped = {reason.value: 0 for reason in SkipReason}
    for (state, reason), count in counts.items():
        by_state[state] = by_state.get(state, 0) + count
        if state == D.SKIPPED and reason is not None:
            skipped[reason] = skipped.get(reason, 0) + count
    total = sum(by_state.values())
    left = by_state[D.PENDING] + by_state[D.CLAIMED]
    eta: datetime | None = None
    if left and rate_per_s > 0:
        eta = now + timedelta(seconds=left / rate_per_s)
    return Progress(total, by_state, skipped, eta)


def delivery_counts(
    session: Session, *, send_id: str | None = None, notice: str | None = None
) -> dict[tuple[str, str | None], int]:
    """(state, skip reason) -> count, for one send or every send of one notice."""
    if (send_id is None) == (notice is None):
        raise ValueError("give a send id or a notice name")
    query = select(NoticeDelivery.state, NoticeDelivery.skip_reason, func.count()).group_by(
        NoticeDelivery.state, NoticeDelivery.skip_reason
    )
    if send_id is not None:
        query = query.where(NoticeDelivery.send_id == send_id)
    else:
        query = query.join(NoticeSend, NoticeSend.id == NoticeDelivery.send_id).where(
            NoticeSend.notice == notice
        )
    return {(state, reason): count for state, reason, count in session.execute(query)}
