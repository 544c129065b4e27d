"""One Celery task per module; importing this package registers them all."""

from worker.tasks import (  # noqa: F401
    apply_delivery_report,
    dispatch_alert,
    fire_step,
    hang_up_calls,
    notification_ended,
    place_call,
    reconcile,
    send_reply,
    send_sms,
    tick,
)
