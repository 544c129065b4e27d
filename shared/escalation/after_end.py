"""What a page that reached nobody means for its chain: a pure decision.

A call not reached is re-called while the policy allows (the re-call is a
notification due later); after that, or for a failed SMS, the chain moves on
at once unless something else in the step may still reach someone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared.core.enums import Channel
from shared.escalation.plan import after_unanswered_call, recall_due_at
from shared.routing.oncall_config import Policy


class AfterEnd(StrEnum):
    RECALL = "recall"  # call the same person again at `recall_at`
    OTHERS_LIVE = "others-live"  # another page of the step may still reach someone: wait
    ESCALATE = "escalate"  # the next step is due now


@dataclass(frozen=True)
class EndDecision:
    action: AfterEnd
    recall_at: datetime | None = None


def live_channels(channel: str) -> tuple[Channel, ...]:
    """Which other pages of the step count as still reaching someone.

    After an unreached call only other calls do: a text already on its way
    does not stand in for a call nobody answered. After a failed text, any
    live text or call of the step may still reach someone.
    """
    if channel == Channel.VOICE:
        return (Channel.VOICE,)
    return (Channel.SMS, Channel.VOICE)


def after_end(
    *,
    channel: str,
    step: int,
    attempt: int,
    policy: Policy,
    live_others: int,
    now: datetime,
) -> EndDecision:
    """Decide what follows a notification that ended without reaching its person.

    `step` and `attempt` are the notification's; a step past the policy's end
    (a policy shortened since it fired) is read as its last step. `live_others`
    counts the step's other pages on `live_channels(channel)` that may still
    reach someone.
    """
    last_step = min(step, len(policy.steps) - 1)
    if channel == Channel.VOICE and after_unanswered_call(policy, last_step, attempt) == "recall":
        return EndDecision(AfterEnd.RECALL, recall_due_at(policy, last_step, now))
    if live_others > 0:
        return EndDecision(AfterEnd.OTHERS_LIVE)
    return EndDecision(AfterEnd.ESCALATE)
