"""What a send's next batch run does: send, wait, settle abandoned claims, or finish.

Pure, `now` passed in. One run sends at most one bulk request, for one sender
(a bulk request has one `src`; through a Powerpack, Plivo picks the number,
so every row is one group). Senders take turns, so a pool of numbers is
worked through side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from shared.notices.delivery_state import OPEN_SENDS

# While the only rows left are claimed by a batch under way, look again this often.
POLL_S = 5.0


class Step(StrEnum):
    CLOSED = "closed"  # done, cancelled, missed or gone: nothing to do
    SETTLE = "settle"  # a claim outlived any request: ask Plivo before anything else
    WAIT = "wait"  # only claims under way are left
    FINISH = "finish"  # nothing pending, nothing claimed
    SEND = "send"


@dataclass(frozen=True, slots=True)
class NextRun:
    step: Step
    sender: str | None = None  # the group to send for (None with a Powerpack: every row)
    pending: int = 0  # rows waiting in that group
    wait_s: float = 0.0


def next_run(
    *,
    state: str,
    has_text: bool,
    pending_by_sender: Mapping[str | None, int],
    oldest_claim: datetime | None,
    now: datetime,
    claim_timeout: timedelta,
    turn: int,
    one_group: bool,
) -> NextRun:
    """The run's step. `one_group`: a Powerpack sends for every sender at once."""
    if state not in OPEN_SENDS:
        return NextRun(Step.CLOSED)
    if oldest_claim is not None and oldest_claim < now - claim_timeout:
        return NextRun(Step.SETTLE)
    pending = {sender: count for sender, count in pending_by_sender.items() if count > 0}
    if not pending:
        if oldest_claim is None:
            return NextRun(Step.FINISH)  # also a send with nobody to text (all opted out)
        stale_in = (oldest_claim + claim_timeout - now).total_seconds()
        return NextRun(Step.WAIT, wait_s=max(0.5, min(POLL_S, stale_in)))
    if not has_text:
        return NextRun(Step.CLOSED)  # rows without words: never written so, never sent
    if one_group:
        return NextRun(Step.SEND, None, sum(pending.values()))
    senders = sorted(pending, key=lambda s: s or "")
    chosen = senders[turn % len(senders)]
    return NextRun(Step.SEND, chosen, pending[chosen])
