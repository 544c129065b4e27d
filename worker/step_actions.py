"""Handing a fired step's PHLO runs and webhook post to their tasks, after its pages.

Called once the step's transaction is committed and its pages are handed over
(worker.escalation_runner.hand_over_all): the first page of a step leaves from
the step's own task before anything here is even published. A PHLO run goes at
the pages' priority (it calls people); a webhook post at the lowest, on the
notify queue, behind every page, retry and repeat: a receiver that is down or
hangs keeps a notify slot for seconds at most, never a page.

A publish that fails (broker down) is logged and counted as not_enqueued: the
tick re-hands pages, not these, so such a run or post is lost with the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.core.metrics import STEP_PHLO_RUNS, STEP_WEBHOOKS
from shared.escalation.plan import Position
from shared.notifications.priority import page_priority
from shared.routing.step_kinds import WebhookFormat
from worker import enqueue, task_names
from worker.queues import PRIORITY_STEPS

if TYPE_CHECKING:
    from worker.escalation_runner import Fired

log = logging.getLogger(__name__)

# After every page, as maintenance notices are: a chat message is not a page.
WEBHOOK_PRIORITY = PRIORITY_STEPS[-1]


def hand_over_actions(fired: Sequence[tuple[int, Fired | None]]) -> None:
    """Publish the PHLO runs (one per person) and the webhook post of each step fired."""
    for alert_id, each in fired:
        if each is None or each.result.step is None or not each.result.fired:
            continue
        result = each.result
        if not 0 <= result.step < len(each.policy.steps):
            continue
        spec = each.policy.steps[result.step]
        position = Position(result.step, result.round or 0)
        if spec.phlo is not None:
            priority = page_priority(each.severity, round=position.round)
            for name in spec.phlo.to:
                run_phlo_step(alert_id, position, name, priority=priority)
        if spec.webhook is not None:
            post_webhook_step(alert_id, position, spec.webhook.format)


def run_phlo_step(
    alert_id: int,
    position: Position,
    contact: str,
    *,
    attempt: int = 0,
    countdown: float | None = None,
    slot_booked: bool = False,
    priority: int | None = None,
) -> bool:
    """The PHLO run of one person of a fired step (worker.tasks.run_phlo_step)."""
    published = enqueue.publish(
        task_names.RUN_PHLO_STEP,
        [alert_id, position.step, position.round, contact],
        countdown,
        {"attempt": attempt, "slot_booked": slot_booked},
        priority,
    )
    if not published:
        STEP_PHLO_RUNS.labels(result="not_enqueued").inc()
        log.error("alert %s: PHLO run of step %s not handed over", alert_id, position.step)
    return published


def post_webhook_step(
    alert_id: int,
    position: Position,
    format: WebhookFormat,
    *,
    attempt: int = 0,
    countdown: float | None = None,
) -> bool:
    """The webhook post of a fired step (worker.tasks.post_webhook_step)."""
    published = enqueue.publish(
        task_names.POST_WEBHOOK_STEP,
        [alert_id, position.step, position.round],
        countdown,
        {"attempt": attempt},
        WEBHOOK_PRIORITY,
    )
    if not published:
        STEP_WEBHOOKS.labels(format=format.value, result="not_enqueued").inc()
        log.error("alert %s: webhook post of step %s not handed over", alert_id, position.step)
    return published
