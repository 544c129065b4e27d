"""The safety net of pages that ride in another page's message, one task per person."""

from __future__ import annotations

from worker import task_names
from worker.celery_app import app
from worker.escalation_runner import ops_for
from worker.sending.flow import run_send


@app.task(name=task_names.SEND_FOLLOWERS)
def send_followers(notification_ids: list[int], channel: str) -> list[str]:
    """Send each page the lead's claim did not take, in order; the rest do nothing.

    Pages fired together for one person and channel leave as one message: the
    lead's claim takes them (worker.escalation_runner.hand_over). This task
    comes a little later for those it did not take (the lead's alert closed
    first, or the lead was held for the person's bundle window). One task for
    the person, not one per page: a body of 100 alerts for one person was 99
    messages through the broker and 99 task starts, nearly all finding their
    page already sent. Each page still takes the whole send path, so the first
    one left pending claims the others with it.
    """
    ops = ops_for(channel)
    return [run_send(notification_id, False, ops) for notification_id in notification_ids]
