"""One Celery task per module; importing this package registers them all."""

from worker.tasks import apply_delivery_report, dispatch_alert, send_sms, sweep  # noqa: F401
