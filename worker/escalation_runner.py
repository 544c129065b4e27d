"""Fire a due escalation position and hand its notifications to the senders."""

from __future__ import annotations

import logging

from shared.core.db import session_scope
from shared.core.metrics import ESCALATION_STEPS, ESCALATIONS_EXHAUSTED
from shared.core.models import Alert, utcnow
from shared.escalation.engine import FireResult, fire
from shared.escalation.plan import Position
from shared.notifications.priority import page_priority
from shared.notifications.sms_text import alert_sms_text
from shared.routing.oncall_config import Contact
from shared.routing.route import DIRECT_POLICY, config_and_policy
from worker import context, enqueue

log = logging.getLogger(__name__)


def fire_and_hand_over(alert_id: int, position: Position) -> FireResult:
    """Fire the position if it is still the one due (exactly once), then enqueue its sends."""
    with session_scope(context.database_url()) as session:
        alert = session.get(Alert, alert_id)
        if alert is None or alert.status != "triggered":
            return FireResult(fired=False)
        found = config_and_policy(alert, context.settings().config_file)
        if found is None:
            log.error("alert %s: policy %r is not in the configuration", alert_id, alert.policy)
            return FireResult(fired=False)
        config, policy = found
        severity = alert.severity

        def text_for(contact: Contact, channel: str) -> str:
            # The final words (with the reply code, or as part of a bundle) are
            # composed when the message leaves; this is the alert's own line.
            return alert_sms_text(alert) if channel == "sms" else ""

        result = fire(
            session,
            alert_id,
            position,
            config,
            policy,
            utcnow(),
            text_for,
            report_exhaustion=policy.name != DIRECT_POLICY,
        )
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
    priority = page_priority(severity, round=result.round or 0)
    for planned in result.planned:
        enqueue.send_notification(planned.notification_id, planned.channel, priority)
    return result
