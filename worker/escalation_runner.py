"""Fire a due escalation position and hand its notifications to the senders."""

from __future__ import annotations

import logging

from shared.core.db import session_scope
from shared.core.enums import AlertStatus, Channel
from shared.core.metrics import ESCALATION_STEPS, ESCALATIONS_EXHAUSTED
from shared.core.models import Alert, utcnow
from shared.escalation.engine import END_OF_CHAIN, FireResult, end_chain, fire
from shared.escalation.plan import Position, has_position
from shared.notifications.priority import page_priority
from shared.notifications.sms_text import alert_sms_text
from shared.routing.oncall_config import Contact, Policy
from shared.routing.route import DIRECT_POLICY, config_and_policy
from worker import context, enqueue

log = logging.getLogger(__name__)


def fire_and_hand_over(alert_id: int, position: Position) -> FireResult:
    """Fire the position if it is still the one due (exactly once), then enqueue its sends."""
    with session_scope(context.database_url()) as session:
        alert = session.get(Alert, alert_id)
        if alert is None or alert.status != AlertStatus.TRIGGERED:
            return FireResult(fired=False)
        found = config_and_policy(alert, context.settings().config_file)
        if found is None:
            log.error("alert %s: policy %r is not in the configuration", alert_id, alert.policy)
            return FireResult(fired=False)
        config, policy = found
        severity = alert.severity
        report = policy.name != DIRECT_POLICY
        now = utcnow()

        def text_for(contact: Contact, channel: str) -> str:
            # The final words (with the reply code, or as part of a bundle) are
            # composed when the message leaves; this is the alert's own line.
            return alert_sms_text(alert) if channel == Channel.SMS else ""

        if lost_from_file(alert, policy, position):
            log.warning(
                "alert %s: the on-call file no longer has step %s of %s; the chain ends",
                alert_id,
                position.step,
                policy.name,
            )
            result = end_chain(session, alert_id, position, policy, now, report=report)
        else:
            result = fire(
                session, alert_id, position, config, policy, now, text_for, report_exhaustion=report
            )
    _count(alert_id, policy, result)
    priority = page_priority(severity, round=result.round or 0)
    for planned in result.planned:
        enqueue.send_notification(planned.notification_id, planned.channel, priority)
    return result


def lost_from_file(alert: Alert, policy: Policy, position: Position) -> bool:
    """An alert started before chains were frozen follows the file in force, which
    may since have lost the position it is due at: that chain can only end.
    A frozen chain never loses a position, so it is never asked."""
    if alert.escalation_snapshot is not None or position.step == END_OF_CHAIN:
        return False
    return not has_position(policy, position)


def _count(alert_id: int, policy: Policy, result: FireResult) -> None:
    if result.exhausted:
        ESCALATIONS_EXHAUSTED.labels(policy=policy.name).inc()
    elif result.fired and result.step is not None:
        ESCALATION_STEPS.labels(policy=policy.name).inc()
        log.info(
            "alert %s: step %s (round %s) of %s fired, %d notifications",
            alert_id,
            result.step,
            result.round,
            policy.name,
            len(result.planned),
        )
