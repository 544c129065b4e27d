"""Notices sent one recipient per request (calls, PHLO runs, WhatsApp): pace and claim.

Pacing, pure. A request takes one slot of the page limit its channel shares
(the account's calls per second, or its messages per second), booked with
`acquire`: only a slot free now, so a page already waiting for one keeps it.
The chain then asks again one interval divided by SINGLE_SHARE later, so about
a fifth of the slots stay idle for pages arriving meanwhile, and a page
arriving just after a notice request waits at most one interval, as it would
behind another page. A call or a message of 10,000 never sits in Plivo's
queue: the chain never books ahead.

Claiming: one row a batch (shared.notices.deliveries.claim_batch with size 1),
committed before the request, so the batch id in a callback URL names one
delivery and a killed worker never causes a second request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.models import NoticeDelivery, NoticeSend
from shared.notices.deliveries import claim_batch

# Calls and WhatsApp messages go one a request at a few per second, where one slot
# of slack is a large part of a second: they keep a wider share for pages than bulk
# SMS (shared.notices.pacing.NOTICE_SHARE), so arrival jitter at Plivo (a request
# sent late by a busy worker, the next on time) never puts one request more than
# the limit into a second: at 0.9, one request 100 ms late could.
SINGLE_SHARE = 0.8


def next_request_in(interval_s: float, elapsed_s: float, share: float = SINGLE_SHARE) -> float:
    """Seconds until the chain's next request, counted from its last booking."""
    if not 0 < share <= 1:
        raise ValueError("a notice's share of the rate is in (0, 1]")
    return max(0.0, interval_s / share - elapsed_s)


def send_texts(session: Session, send_id: str) -> dict[str, Any]:
    """The words a send rendered once for every recipient, per channel."""
    send = session.get(NoticeSend, send_id)
    return dict(send.texts or {}) if send is not None else {}


@dataclass(frozen=True, slots=True)
class ClaimedOne:
    """One row claimed for one request; `number` None when nothing was claimed."""

    batch_id: str
    number: str | None
    sender: str | None
    opted_out: int


def claim_one(
    session: Session, send_id: str, *, channel: str, provider: str, now: datetime
) -> ClaimedOne:
    """Claim the oldest pending row of an open send on `channel` (commit before sending)."""
    batch = claim_batch(
        session,
        send_id,
        channel=channel,
        sender=None,
        any_sender=True,
        size=1,
        provider=provider,
        now=now,
    )
    if not batch.numbers:
        return ClaimedOne(batch.batch_id, None, None, batch.opted_out)
    sender = session.scalar(
        select(NoticeDelivery.sender).where(NoticeDelivery.batch_id == batch.batch_id)
    )
    return ClaimedOne(batch.batch_id, batch.numbers[0], sender, batch.opted_out)
