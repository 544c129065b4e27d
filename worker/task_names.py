"""The name of every Celery task, in one place.

A task module registers itself under its name here and `worker.enqueue`
publishes by the same constant, so a reader (and an IDE) follows a hand-over
from the caller to the task without importing the task module, which would
close a circle (tasks enqueue each other).
"""

from __future__ import annotations

from typing import Final

DISPATCH_ALERT: Final = "ingest.dispatch_alert"
DISPATCH_ALERTS: Final = "ingest.dispatch_alerts"
FIRE_STEP: Final = "escalation.fire_step"
NOTIFICATION_ENDED: Final = "escalation.notification_ended"
TICK: Final = "escalation.tick"
HAND_OVER_STEPS: Final = "escalation.hand_over_steps"
SEND_SMS: Final = "notify.send_sms"
HAND_OVER_SENDS: Final = "notify.hand_over_sends"
PLACE_CALL: Final = "notify.place_call"
SEND_FOLLOWERS: Final = "notify.send_followers"
SEND_REPLY: Final = "notify.send_reply"
RECONCILE: Final = "notify.reconcile"
HANG_UP_CALLS: Final = "notify.hang_up_calls"
RUN_PHLO_STEP: Final = "notify.run_phlo_step"
POST_WEBHOOK_STEP: Final = "notify.post_webhook_step"
APPLY_DELIVERY_REPORT: Final = "callbacks.apply_delivery_report"
APPLY_DELIVERY_REPORTS: Final = "callbacks.apply_delivery_reports"
NOTICES_TICK: Final = "notices.tick"
NOTICE_SEND_BATCH: Final = "notices.send_batch"
NOTICE_RECONCILE: Final = "notices.reconcile"
NOTICE_CALL_BATCH: Final = "notices.call_batch"
NOTICE_WHATSAPP_BATCH: Final = "notices.whatsapp_batch"
HANDOFF_NOTICES: Final = "schedules.handoff_notices"
