"""What a failed Plivo request means for a notification: wait, retry, or give up.

One policy for SMS and calls, so both channels treat an ambiguous request,
a retryable error and a permanent one alike.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter

from shared.core.db import session_scope
from shared.core.models import utcnow
from shared.core.phone import mask
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move, move_members, release_members
from shared.plivo.errors import PlivoError, PlivoRateLimited
from shared.sending.rate_limiter import Limit
from shared.sending.retry import may_retry, retry_delay
from worker import context, enqueue
from worker.send_gate import slow_down_account

log = logging.getLogger(__name__)


def record_send_failure(
    *,
    database_url: str,
    notification_id: int,
    destination: str,
    attempts: int,
    exc: PlivoError,
    counter: Counter,
    account_limit: Limit,
    requeue: Callable[[int, float], bool],
) -> str:
    """Record the failure and act on it; returns ambiguous, retry or failed.

    Ambiguous: the request may have reached Plivo, so it is never resent
    blindly; its callback (which carries our id) or a reconcile settles it.
    Retryable: back to pending with a jittered backoff, a bounded number of times.
    Otherwise: failed at once, and escalation moves on.
    """
    error = {"error": type(exc).__name__, "status": exc.status, "message": str(exc)[:300]}
    if isinstance(exc, PlivoRateLimited):
        slow_down_account(account_limit)
    if exc.ambiguous:
        target, result = S.UNKNOWN, "ambiguous"
    elif exc.retryable and may_retry(attempts):
        target, result = S.PENDING, "retry"
    else:
        target, result = S.FAILED, "failed"
    ended = [notification_id]
    with session_scope(database_url) as session:
        move(
            session,
            notification_id,
            target,
            reason=f"{result} error",
            detail=error,
            error_message=str(exc)[:500],
            **({"enqueued_at": utcnow()} if result == "retry" else {}),
        )
        # A bundle's members share the lead's fate: with it while the outcome is
        # unknown, failed with it, or free to go again on their own on a retry.
        if result == "retry":
            release_members(session, notification_id)
        elif result == "failed":
            ended += move_members(session, notification_id, S.FAILED, reason="bundle failed")
    counter.labels(result=result).inc()
    log.warning("notification %s to %s: %s (%s)", notification_id, mask(destination), result, exc)
    if result == "retry":
        requeue(notification_id, retry_delay(attempts))
    elif result == "ambiguous":
        # Time for the message's own status callback (it carries our id) first.
        enqueue.reconcile(notification_id, countdown=context.settings().reconcile_grace_s)
    elif result == "failed":
        for nid in ended:
            enqueue.notification_ended(nid)
    return result
