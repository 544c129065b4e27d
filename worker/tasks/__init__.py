"""One Celery task per module; importing this package registers them all."""

from worker.tasks import (  # noqa: F401
    apply_delivery_report,
    apply_delivery_reports,
    dispatch_alert,
    fire_step,
    handoff_notices,
    hang_up_calls,
    notice_call_batch,
    notice_reconcile,
    notice_send_batch,
    notice_whatsapp_batch,
    notices_tick,
    notification_ended,
    place_call,
    post_webhook_step,
    reconcile,
    run_phlo_step,
    send_followers,
    send_reply,
    send_sms,
    tick,
)
