"""Handing work to the broker, after the database holds it.

Callers commit first and enqueue second: if the broker is down the work is
still in the database and the sweeper hands it over later. These functions
therefore report failure instead of raising, so an accepted alert is never
answered with an error.
"""

from __future__ import annotations

import logging

from kombu.exceptions import OperationalError

from worker import task_names
from worker.queues import HAND_OVER_PRIORITY

log = logging.getLogger(__name__)

# Celery's Redis transport serves 0 first (see shared.notifications.priority).
HIGHEST_PRIORITY = 0

_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}


def publish(
    name: str,
    args: list[object],
    countdown: float | None = None,
    kwargs: dict[str, object] | None = None,
    priority: int | None = None,
) -> bool:
    from worker.celery_app import app

    try:
        app.send_task(
            name,
            args=args,
            kwargs=kwargs,
            countdown=countdown,
            priority=priority,
            retry=True,
            retry_policy=_PUBLISH_RETRY,
            # No task's result is ever read. Without this, every publish asks the
            # result backend to prepare, and Celery keeps that backend per thread:
            # under gevent, per request, so it was built again for each one.
            ignore_result=True,
        )
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, %s(%s) left for the tick: %s", name, args, exc)
        return False
    except Exception:  # whatever the transport raised: the work is in the database already
        log.exception("could not enqueue %s(%s); left for the tick", name, args)
        return False
    return True


def dispatch_alert(alert_id: int, priority: int | None = None) -> bool:
    """Routing comes before paging: a new critical alert is routed ahead of a backlog."""
    return publish(task_names.DISPATCH_ALERT, [alert_id], priority=priority)


def dispatch_alerts(alert_ids: list[int], priority: int | None = None) -> bool:
    """Alerts that arrived in one request, routed together (worker.tasks.dispatch_alert):
    one person's share of them then leaves as one message."""
    return publish(task_names.DISPATCH_ALERTS, [alert_ids], priority=priority)


def route_alerts(alert_ids: list[int], priority: int | None = None) -> bool:
    """The routing of the new alerts of one request: one alert's task or the group's."""
    if len(alert_ids) == 1:
        return dispatch_alert(alert_ids[0], priority=priority)
    return dispatch_alerts(alert_ids, priority=priority)


def send_sms(
    notification_id: int,
    countdown: float | None = None,
    *,
    slot_booked: bool = False,
    priority: int | None = None,
) -> bool:
    return publish(
        task_names.SEND_SMS, [notification_id], countdown, {"slot_booked": slot_booked}, priority
    )


def apply_delivery_reports() -> bool:
    """Start a drainer of the report inbox: the reports travel in Redis, not in the message."""
    return publish(task_names.APPLY_DELIVERY_REPORTS, [])


def place_call(
    notification_id: int,
    countdown: float | None = None,
    *,
    slot_booked: bool = False,
    priority: int | None = None,
) -> bool:
    return publish(
        task_names.PLACE_CALL, [notification_id], countdown, {"slot_booked": slot_booked}, priority
    )


def send_notification(
    notification_id: int,
    channel: str,
    priority: int | None = None,
    countdown: float | None = None,
    *,
    slot_booked: bool = False,
) -> bool:
    """Hand a planned notification to the task for its channel (shared.notifications.priority);
    `slot_booked`: its rate-limit slot is booked, at the end of `countdown`."""
    if channel == "voice":
        return place_call(notification_id, countdown, priority=priority, slot_booked=slot_booked)
    return send_sms(notification_id, countdown, priority=priority, slot_booked=slot_booked)


def send_followers(
    notification_ids: list[int],
    channel: str,
    priority: int | None = None,
    countdown: float | None = None,
) -> bool:
    """One safety net for the pages that ride in one person's message
    (worker.tasks.send_followers): one message to the broker, not one per page."""
    return publish(
        task_names.SEND_FOLLOWERS, [notification_ids, channel], countdown, None, priority
    )


def fire_step(alert_id: int, step: int, round: int) -> bool:
    """Fire an escalation step: on the notify queue, before any page waiting there."""
    return publish(task_names.FIRE_STEP, [alert_id, step, round], priority=HAND_OVER_PRIORITY)


def notification_ended(notification_id: int) -> bool:
    """A notification ended without reaching anyone: recall, next channel or next step."""
    return publish(task_names.NOTIFICATION_ENDED, [notification_id])


def send_reply(
    reply_event_id: int, countdown: float | None = None, *, slot_booked: bool = False
) -> bool:
    """Send the answer recorded as event `reply_event_id` ("sms.reply_queued").

    Only the id travels: the number and the text stay in the database, out of
    broker messages and the task arguments that logs print.
    """
    return publish(task_names.SEND_REPLY, [reply_event_id], countdown, {"slot_booked": slot_booked})


def reconcile(notification_id: int, countdown: float | None = None) -> bool:
    """Look an unknown send up at Plivo (after a grace period for its callback)."""
    return publish(task_names.RECONCILE, [notification_id], countdown)


def hang_up_calls(alert_id: int, countdown: float | None = None) -> bool:
    """End the calls still ringing for a closed alert, ahead of everything else:
    the time from an acknowledgement to silence is what a person notices."""
    return publish(task_names.HANG_UP_CALLS, [alert_id], countdown, priority=HIGHEST_PRIORITY)


def notice_send_batch(send_id: str) -> bool:
    """Start the chains (SMS, calls, WhatsApp) of a notice send made outside beat, such as
    an update's correction; each stops at once when the send has no rows of its channel."""
    from worker.queues import NOTICE_PRIORITY

    names = (
        task_names.NOTICE_SEND_BATCH,
        task_names.NOTICE_CALL_BATCH,
        task_names.NOTICE_WHATSAPP_BATCH,
    )
    return all([publish(name, [send_id], priority=NOTICE_PRIORITY) for name in names])
