"""Acting on a failed Plivo request: the decision is `shared.sending.retry`
(`after_failed_request`); this records it and enqueues what follows."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter

from shared.core.db import session_scope
from shared.core.models import utcnow
from shared.core.phone import mask
from shared.notifications.state import NotificationState as S
from shared.notifications.store import move, move_bundle, release_members
from shared.plivo.errors import PlivoError, PlivoRateLimited
from shared.sending.rate_limiter import Limit
from shared.sending.retry import FailedRequest, FailureOutcome, after_failed_request
from worker import context, enqueue
from worker.sending.gate import slow_down_account

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
    requeue: Callable[[int, float], None],
) -> str:
    """Record the failure and act on it; returns ambiguous, retry or failed.

    A bundle's members share the lead's fate: with it while the outcome is
    unknown, failed with it, or free to go again on their own on a retry.
    """
    if isinstance(exc, PlivoRateLimited):
        slow_down_account(account_limit)
    decision = after_failed_request(
        ambiguous=exc.ambiguous,
        retryable=exc.retryable,
        attempts=attempts,
        reconcile_grace_s=context.settings().reconcile_grace_s,
    )
    result = decision.outcome
    ended = _record(database_url, notification_id, decision, exc)
    counter.labels(result=result.value).inc()
    log.warning("notification %s to %s: %s (%s)", notification_id, mask(destination), result, exc)
    if result is FailureOutcome.RETRY:
        requeue(notification_id, decision.delay_s)
    elif result is FailureOutcome.AMBIGUOUS:
        # Time for the message's own status callback (it carries our id) first.
        enqueue.reconcile(notification_id, countdown=decision.delay_s)
    else:
        for nid in ended:
            enqueue.notification_ended(nid)
    return result.value


def _record(
    database_url: str, notification_id: int, decision: FailedRequest, exc: PlivoError
) -> list[int]:
    """Move the lead (and its members, as the outcome says); the ids whose page ended."""
    error = {"error": type(exc).__name__, "status": exc.status, "message": str(exc)[:300]}
    result = decision.outcome
    with session_scope(database_url) as session:
        if result is FailureOutcome.FAILED:
            moved = move_bundle(
                session,
                notification_id,
                S.FAILED,
                reason=f"{result} error",
                member_reason="bundle failed",
                members_follow_only_a_moved_lead=False,
                detail=error,
                error_message=str(exc)[:500],
            )
            return [notification_id, *moved.members]
        move(
            session,
            notification_id,
            decision.state,
            reason=f"{result} error",
            detail=error,
            error_message=str(exc)[:500],
            **({"enqueued_at": utcnow()} if result is FailureOutcome.RETRY else {}),
        )
        if result is FailureOutcome.RETRY:
            release_members(session, notification_id)
    return []
