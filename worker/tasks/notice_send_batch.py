"""Send a notice's SMS in paced bulk requests, re-queued until nothing is pending.

Each batch: look at the send (shared.notices.batching), take only the rate
slots free right now in the account's and the sender's page keys, sized so
no one-second window goes over the limit (shared.notices.pacing), claim that
many rows and commit, send ONE bulk request, record each number's uuid, and
go on when the booked slots are used up: within the same run for up to
RUN_FOR_S (sleeping until the next slot), then through the broker with a
countdown (a long one in hops that mark the send as still worked on:
shared.notices.chain_timing). A page waiting for a slot always goes first,
and a notice of 10,000 numbers is never in Plivo's queue ahead of it. The
task runs on the notify queue at the lowest priority.

Exactly once: the claim is committed before the request, and a claimed row
is only ever given back when the request provably never left. A run that
finds a claim older than any request could take (the worker died, or the
answer was lost) sends nothing more for the send until notices.reconcile
has asked Plivo about it. A redelivered run, or a second chain started by
beat, claims other rows or none.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import datetime

import redis
from kombu.exceptions import OperationalError
from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.metrics import NOTICE_SMS
from shared.core.models import utcnow
from shared.notices.batching import NextRun, Step, next_run
from shared.notices.chain_timing import (
    MAX_IN_RUN_WAIT_S,
    RUN_FOR_S,
    TOUCH_EVERY,
    hop,
    left_to_wait,
)
from shared.notices.deliveries import (
    Batch,
    SendView,
    claim_batch,
    fail_batch,
    finish_if_over,
    keep_alive,
    record_accepted,
    release_batch,
    touch_send,
    view_send,
)
from shared.notices.delivery_state import SendState
from shared.notices.model import NoticeChannel
from shared.notices.pacing import (
    batch_checks,
    booked_units,
    largest_batch,
    next_batch_in,
    wait_after_refusal,
)
from shared.plivo.callback_urls import notice_callback_url
from shared.plivo.client import BulkResult
from shared.plivo.errors import PlivoClientError, PlivoError, PlivoRateLimited
from shared.sending.retry import FailureOutcome, after_failed_request
from worker import context, task_names
from worker.celery_app import app
from worker.queues import NOTICE_PRIORITY
from worker.sending.gate import hold_send_spacing, slow_down_account
from worker.sending.providers import Provider, choose_provider, report
from worker.tasks.notice_reconcile import claim_timeout, settle_later

log = logging.getLogger(__name__)

CHANNEL = NoticeChannel.SMS.value
REDIS_DOWN_WAIT_S = 2.0
# A run's length (RUN_FOR_S) and how often it marks its send (TOUCH_EVERY) are
# in shared.notices.chain_timing: beat's hand-over of a quiet send counts on them.
# Per batch, a trip through the broker costs about as much as the batch's own
# share of the rate.


@dataclass(frozen=True, slots=True)
class Ran:
    """What one batch did, and when the chain goes on (None: it stops here)."""

    result: str
    wait_s: float | None
    turn: int
    attempt: int = 0
    # The send as the next batch of the same run may take it without reading it again.
    view: SendView | None = None


@app.task(name=task_names.NOTICE_SEND_BATCH)
def notice_send_batch(
    send_id: str, turn: int = 0, attempt: int = 0, resume_at: float | None = None
) -> str:
    """Batches back to back for up to RUN_FOR_S, then the chain goes on through the
    broker; the result names what the last batch did. Before `resume_at` (a long
    wait, in hops) it only marks the send and hops again."""
    left = left_to_wait(resume_at, time.time())
    if left > 0:
        return _hop(send_id, left, turn, attempt)
    started, view = time.monotonic(), None
    while True:
        ran = _one_batch(send_id, turn, attempt, view)
        if ran.wait_s is None:
            return ran.result
        spent = time.monotonic() - started
        if ran.wait_s > MAX_IN_RUN_WAIT_S or spent + ran.wait_s > RUN_FOR_S:
            requeue(send_id, ran.wait_s, ran.turn, ran.attempt)
            return ran.result
        time.sleep(ran.wait_s)
        turn, attempt, view = ran.turn, ran.attempt, ran.view


def _hop(send_id: str, left_s: float, turn: int, attempt: int) -> str:
    """One hop of a long wait: the send marked as still worked on, the next hop queued."""
    with session_scope(context.database_url()) as session:
        open_send = keep_alive(session, send_id, utcnow(), TOUCH_EVERY)
    if not open_send:
        return Step.CLOSED.value
    requeue(send_id, left_s, turn, attempt)
    return "waiting"


def _one_batch(send_id: str, turn: int, attempt: int, view: SendView | None) -> Ran:
    """One batch; `view` is the send as the run's previous batch left it (None: read it).

    A cancel landing in between is still seen: a claim takes rows of open sends only.
    """
    now = utcnow()
    if view is None:
        view = _look(send_id, now)
    if view is None:
        return Ran(Step.CLOSED.value, None, turn)
    plan = next_run(
        state=view.state,
        has_text=view.text is not None,
        pending_by_sender=view.pending_by_sender,
        oldest_claim=view.oldest_claim,
        now=now,
        claim_timeout=claim_timeout(),
        turn=turn,
        one_group=context.settings().plivo_powerpack_uuid is not None,
    )
    if plan.step is Step.SEND and view.text is not None:
        return _send(send_id, plan, view, turn, attempt)
    return _other_step(send_id, plan, turn)


def _look(send_id: str, now: datetime) -> SendView | None:
    with session_scope(context.database_url()) as session:
        view = view_send(session, send_id, CHANNEL)
        quiet = view is not None and now - view.updated_at > TOUCH_EVERY
        if view is not None and (quiet or view.state == SendState.SCHEDULED):
            touch_send(session, send_id, now)
    return view


def _other_step(send_id: str, plan: NextRun, turn: int) -> Ran:
    if plan.step is Step.SETTLE:
        settle_later(send_id)
        return Ran(plan.step.value, claim_timeout().total_seconds() / 2, turn)
    if plan.step is Step.WAIT:
        return Ran(plan.step.value, plan.wait_s, turn)
    if plan.step is Step.FINISH:
        with session_scope(context.database_url()) as session:
            finished = finish_if_over(session, send_id, utcnow())
        if finished:
            log.info("notice send %s: every SMS handed over", send_id)
    return Ran(plan.step.value, None, turn)


def _send(send_id: str, plan: NextRun, view: SendView, turn: int, attempt: int) -> Ran:
    """Book the slots free now, claim that many rows, send them in one request."""
    booked = _book(plan)
    if isinstance(booked, float):
        return Ran("paced", booked, turn, attempt)
    size, units, interval_s, booked_at = booked
    provider = choose_provider()
    with session_scope(context.database_url()) as session:
        batch = _claim(session, send_id, plan, size, provider)
    if batch.opted_out:
        NOTICE_SMS.labels(result="opted_out").inc(batch.opted_out)
    if not batch.numbers:
        return Ran("nothing-claimed", 0.0, turn + 1)
    outcome = _request(send_id, batch, view.text or "", plan.sender, provider)
    if outcome is not None:
        return _after_failure(send_id, batch, outcome, attempt, turn)
    wait = next_batch_in(units, interval_s, time.monotonic() - booked_at)
    return Ran("sent", wait, turn + 1, view=_after_claim(view, plan, size, batch))


def _after_claim(view: SendView, plan: NextRun, size: int, batch: Batch) -> SendView | None:
    """The send as this batch left it; None (read it again) once a claim came up short."""
    taken = len(batch.numbers) + batch.opted_out
    if taken < size or plan.sender not in view.pending_by_sender:
        return None
    pending = dict(view.pending_by_sender)
    pending[plan.sender] -= taken
    return replace(view, pending_by_sender=pending)


def _claim(session: Session, send_id: str, plan: NextRun, size: int, provider: Provider) -> Batch:
    return claim_batch(
        session,
        send_id,
        channel=CHANNEL,
        sender=plan.sender,
        any_sender=plan.sender is None,
        size=size,
        provider=provider.name,
        now=utcnow(),
    )


def _book(plan: NextRun) -> tuple[int, int, float, float] | float:
    """(size, slots booked, slot interval, when) for the slots free now; else seconds to wait.

    The checks are the page's own keys (account and sender at the gate, then
    their release logs right before the request), so pages and notices share
    one budget; a person's page caps are not counted: a notice is not a page.
    """
    settings, limits = context.settings(), context.send_limits()
    paced = settings.plivo_powerpack_uuid or plan.sender or settings.sender_numbers[0]
    account = settings.plivo_auth_id
    checks = limits.sms_checks(account, paced, "", count_for_person=False)
    size = min(
        plan.pending,
        largest_batch(limits.account_sms, settings.sms_per_second),
        largest_batch(limits.sender_sms, settings.sender_sms_per_second),
    )
    units = booked_units(size)
    try:
        decision = context.limiter().acquire(batch_checks(checks, units), cost=units)
        if not decision.allowed:
            return wait_after_refusal(decision.retry_after_s)
        spacing = hold_send_spacing(limits.sms_spacing_checks(account, paced), cost=units)
    except redis.RedisError as exc:
        log.warning("notice batch not booked, Redis unavailable: %s", exc)
        return REDIS_DOWN_WAIT_S
    if spacing.hand_back_after_s is not None:
        return wait_after_refusal(spacing.hand_back_after_s)
    interval_s = max(limits.account_sms.interval_s, limits.sender_sms.interval_s)
    return size, units, interval_s, time.monotonic()


def _request(
    send_id: str, batch: Batch, text: str, sender: str | None, provider: Provider
) -> PlivoError | None:
    """The one bulk request, and its answer recorded; the error when it failed."""
    settings = context.settings()
    url = notice_callback_url(settings.public_base_url, "/plivo/sms/status", batch.batch_id)
    powerpack = settings.plivo_powerpack_uuid
    try:
        result = provider.client.send_bulk_sms(
            src=None if powerpack else (sender or settings.sender_numbers[0]),
            powerpack_uuid=powerpack,
            destinations=batch.numbers,
            text=text,
            callback_url=url,
        )
    except PlivoError as exc:
        report(provider, exc)
        return exc
    report(provider, None)
    _record(batch, result)
    return None


def _record(batch: Batch, result: BulkResult) -> None:
    with session_scope(context.database_url()) as session:
        record_accepted(session, batch.batch_id, result.accepted, result.invalid, utcnow())
    NOTICE_SMS.labels(result="handed_off").inc(len(result.accepted))
    if result.invalid:
        NOTICE_SMS.labels(result="invalid").inc(len(result.invalid))
        log.warning(
            "notice batch %s: %d number(s) refused as invalid", batch.batch_id, len(result.invalid)
        )


def _after_failure(send_id: str, batch: Batch, exc: PlivoError, attempt: int, turn: int) -> Ran:
    """Act on a failed request as pages do (shared.sending.retry): give back only what
    provably never left and back off, stop for a settlement when the request may have
    reached Plivo, give up on a permanent error and go on with the next batch."""
    if isinstance(exc, PlivoRateLimited):
        slow_down_account(context.send_limits().account_sms)
    decision = after_failed_request(
        ambiguous=exc.ambiguous,
        retryable=exc.retryable,
        attempts=attempt + 1,
        reconcile_grace_s=context.settings().reconcile_grace_s,
    )
    outcome, count = decision.outcome, len(batch.numbers)
    NOTICE_SMS.labels(result=outcome.value).inc(count)
    with session_scope(context.database_url()) as session:
        if outcome is FailureOutcome.RETRY:
            release_batch(session, batch.batch_id, utcnow())
        elif outcome is FailureOutcome.FAILED:
            fail_batch(session, batch.batch_id, _error_code(exc), utcnow())
    level = logging.ERROR if outcome is FailureOutcome.FAILED else logging.WARNING
    log.log(
        level,
        "notice batch %s of send %s (%d SMS): %s (%s)",
        batch.batch_id,
        send_id,
        count,
        outcome,
        exc,
    )
    if outcome is FailureOutcome.RETRY:
        return Ran(outcome.value, decision.delay_s, turn, attempt + 1)
    if outcome is FailureOutcome.AMBIGUOUS:
        # Nothing more for this send until the claim is settled at Plivo, once its own
        # status reports had their time (RECONCILE_GRACE_S), as for a page.
        return Ran(outcome.value, max(decision.delay_s, claim_timeout().total_seconds()), turn)
    return Ran(outcome.value, 0.0, turn + 1)


def _error_code(exc: PlivoError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    if isinstance(exc, PlivoClientError) and body.get("invalid_number"):
        return "invalid_number"
    return f"http_{exc.status}" if exc.status else type(exc).__name__


def requeue(send_id: str, countdown: float, turn: int, attempt: int = 0) -> bool:
    """The next run, `countdown` seconds from now (a long wait in hops); False when the
    broker is down (beat hands the send over again)."""
    step = hop(countdown, time.time())
    kwargs: dict[str, object] = {"turn": turn, "attempt": attempt}
    if step.resume_at is not None:
        kwargs["resume_at"] = step.resume_at
    try:
        notice_send_batch.apply_async(
            args=[send_id],
            kwargs=kwargs,
            countdown=step.countdown_s if step.countdown_s > 0 else None,
            priority=NOTICE_PRIORITY,
        )
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, notice send %s left for beat: %s", send_id, exc)
        return False
    return True
