"""The chain of a notice send on a one-recipient-per-request channel: calls, PHLO runs,
WhatsApp. Not a task itself: notices.call_batch and notices.whatsapp_batch run it.

Each step, as notices.send_batch does for bulk SMS: look at the send
(shared.notices.batching), take one slot of the page limit the channel
shares, free now (shared.notices.single), claim one row and commit, send its
one request, record Plivo's id for it, and go on one interval / SINGLE_SHARE
later: within the run for up to RUN_FOR_S, then through the broker with a
countdown (a long one in hops that mark the send as still worked on:
shared.notices.chain_timing). The task runs on the notify queue at the
lowest priority, so a page waiting there is always taken first, and a
page's own slot is never taken from it.

Exactly once: the claim is committed before the request, given back only when
the request provably never left (shared.sending.retry), or when Plivo's own
list shows it never arrived: a claim older than any request (and, for a call,
its ringing and talking) could take is settled there before anything is sent
again. What cannot be looked up (a PHLO run) fails instead of running twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from kombu.exceptions import OperationalError
from prometheus_client import Counter

from shared.core.db import session_scope
from shared.core.models import utcnow
from shared.notices.batching import Step, next_run
from shared.notices.chain_timing import (
    MAX_IN_RUN_WAIT_S,
    RUN_FOR_S,
    TOUCH_EVERY,
    hop,
    left_to_wait,
)
from shared.notices.deliveries import (
    StaleBatch,
    fail_batch,
    finish_if_over,
    keep_alive,
    record_accepted,
    release_batch,
    stale_batches,
    touch_send,
    view_send,
)
from shared.notices.delivery_state import SendState
from shared.notices.pacing import wait_after_refusal
from shared.notices.single import claim_one, next_request_in, send_texts
from shared.plivo.errors import PlivoError, PlivoRateLimited
from shared.sending.gcra import Limit
from shared.sending.limits import Checks
from shared.sending.reconcile import older_than
from shared.sending.retry import FailureOutcome, after_failed_request
from worker import context, task_names
from worker.celery_app import app
from worker.queues import NOTICE_PRIORITY
from worker.sending.gate import hold_send_spacing, slow_down_account
from worker.sending.providers import Provider, choose_provider, report
from worker.tasks.notice_reconcile import claim_timeout

log = logging.getLogger(__name__)

REDIS_DOWN_WAIT_S = 2.0
# A settlement that could not reach back to the claim is tried again this much later.
SETTLE_AGAIN_S = 15.0
# Plivo's lists, newest first, 20 a page; up to 5,000 records back.
PAGE_SIZE = 20
MAX_PAGES = 250


@dataclass(frozen=True)
class Claimed:
    """One row claimed for one request."""

    batch_id: str
    number: str
    sender: str
    provider: Provider


@dataclass(frozen=True)
class Means:
    """How one send's rows of a channel go out: a call, a PHLO run, a WhatsApp message."""

    counter: Counter
    accepted: str  # the counter's result for a request Plivo took
    request: Callable[[Claimed], str]  # Plivo's id for it; raises PlivoError
    settle: Callable[[StaleBatch], str]  # found | resent | failed | unsettled
    # Fail an ambiguous request with this code at once, instead of settling it later.
    unknown_outcome: str | None = None


@dataclass(frozen=True)
class ChannelSender:
    channel: str
    task_name: str
    limit: Callable[[], Limit]  # the account limit shared with pages (slowed on a 429)
    checks: Callable[[], Checks]  # booked at once: the page gate's account limits
    releases: Callable[[], Checks]  # counted right before the request, as a page's are
    settle_after: Callable[[], timedelta]
    means: Callable[[Mapping[str, Any]], Means | None]  # None: the send has no words for it


@dataclass(frozen=True)
class Ran:
    result: str
    wait_s: float | None  # None: the chain stops here
    attempt: int = 0


def run_chain(
    sender: ChannelSender, send_id: str, attempt: int = 0, resume_at: float | None = None
) -> str:
    """Steps back to back for up to RUN_FOR_S, then on through the broker. Before
    `resume_at` (a long wait, in hops) it only marks the send and hops again."""
    left = left_to_wait(resume_at, time.time())
    if left > 0:
        with session_scope(context.database_url()) as session:
            open_send = keep_alive(session, send_id, utcnow(), TOUCH_EVERY)
        if not open_send:
            return Step.CLOSED.value
        requeue(sender.task_name, send_id, left, attempt)
        return "waiting"
    started = time.monotonic()
    while True:
        ran = _step(sender, send_id, attempt)
        if ran.wait_s is None:
            return ran.result
        spent = time.monotonic() - started
        if ran.wait_s > MAX_IN_RUN_WAIT_S or spent + ran.wait_s > RUN_FOR_S:
            requeue(sender.task_name, send_id, ran.wait_s, ran.attempt)
            return ran.result
        time.sleep(ran.wait_s)
        attempt = ran.attempt


def _step(sender: ChannelSender, send_id: str, attempt: int) -> Ran:
    now = utcnow()
    with session_scope(context.database_url()) as session:
        view = view_send(session, send_id, sender.channel)
        if view is None:
            return Ran(Step.CLOSED.value, None)
        texts = send_texts(session, send_id)
        if now - view.updated_at > TOUCH_EVERY or view.state == SendState.SCHEDULED:
            touch_send(session, send_id, now)
    means = sender.means(texts)
    plan = next_run(
        state=view.state,
        has_text=means is not None,
        pending_by_sender=view.pending_by_sender,
        oldest_claim=view.oldest_claim,
        now=now,
        claim_timeout=sender.settle_after(),
        turn=0,
        one_group=True,
    )
    if plan.step is Step.SEND and means is not None:
        return _send_one(sender, means, send_id, attempt)
    if plan.step is Step.SETTLE and means is not None:
        return _settle(sender, means, send_id, now)
    if plan.step is Step.WAIT:
        return Ran(plan.step.value, plan.wait_s, attempt)
    if plan.step is Step.FINISH:
        with session_scope(context.database_url()) as session:
            if finish_if_over(session, send_id, utcnow()):
                log.info("notice send %s: every delivery handed over", send_id)
    return Ran(plan.step.value, None)


def _book(sender: ChannelSender) -> float | None:
    """None when a slot free now was taken; else seconds to wait before asking again."""
    try:
        decision = context.limiter().acquire(sender.checks())
        if not decision.allowed:
            return wait_after_refusal(decision.retry_after_s)
        spacing = hold_send_spacing(sender.releases())
    except redis.RedisError as exc:
        log.warning("notice %s not booked, Redis unavailable: %s", sender.channel, exc)
        return REDIS_DOWN_WAIT_S
    if spacing.hand_back_after_s is not None:
        return wait_after_refusal(spacing.hand_back_after_s)
    return None


def _send_one(sender: ChannelSender, means: Means, send_id: str, attempt: int) -> Ran:
    booked_at = time.monotonic()
    wait = _book(sender)
    if wait is not None:
        return Ran("paced", wait, attempt)
    provider = choose_provider()
    with session_scope(context.database_url()) as session:
        one = claim_one(
            session, send_id, channel=sender.channel, provider=provider.name, now=utcnow()
        )
    if one.opted_out:
        means.counter.labels(result="opted_out").inc(one.opted_out)
    if one.number is None:
        return Ran("nothing-claimed", 0.0)
    fallback = context.settings().sender_numbers[0]
    claimed = Claimed(one.batch_id, one.number, one.sender or fallback, provider)
    try:
        provider_uuid = means.request(claimed)
    except PlivoError as exc:
        report(provider, exc)
        return _after_failure(sender, means, claimed, exc, attempt)
    report(provider, None)
    with session_scope(context.database_url()) as session:
        record_accepted(session, one.batch_id, {one.number: provider_uuid}, (), utcnow())
    means.counter.labels(result=means.accepted).inc()
    interval_s = sender.limit().interval_s
    return Ran("sent", next_request_in(interval_s, time.monotonic() - booked_at))


def _after_failure(
    sender: ChannelSender, means: Means, claimed: Claimed, exc: PlivoError, attempt: int
) -> Ran:
    """Act on a failed request as pages do (shared.sending.retry): give back only what
    provably never left, leave what may have reached Plivo for settling (or fail it when
    it cannot be looked up), give up on a permanent error and go on with the next."""
    if isinstance(exc, PlivoRateLimited):
        slow_down_account(sender.limit())
    decision = after_failed_request(
        ambiguous=exc.ambiguous,
        retryable=exc.retryable,
        attempts=attempt + 1,
        reconcile_grace_s=context.settings().reconcile_grace_s,
    )
    outcome = decision.outcome
    means.counter.labels(result=outcome.value).inc()
    with session_scope(context.database_url()) as session:
        if outcome is FailureOutcome.RETRY:
            release_batch(session, claimed.batch_id, utcnow())
        elif outcome is FailureOutcome.FAILED:
            fail_batch(session, claimed.batch_id, error_code(exc), utcnow())
        elif means.unknown_outcome is not None:
            fail_batch(session, claimed.batch_id, means.unknown_outcome, utcnow())
    level = logging.WARNING if outcome is FailureOutcome.RETRY else logging.ERROR
    log.log(level, "notice %s batch %s: %s (%s)", sender.channel, claimed.batch_id, outcome, exc)
    if outcome is FailureOutcome.RETRY:
        return Ran(outcome.value, decision.delay_s, attempt + 1)
    if outcome is FailureOutcome.AMBIGUOUS and means.unknown_outcome is None:
        # Plivo may be in trouble: nothing more before the claim can be settled, once
        # its own status reports had their time (RECONCILE_GRACE_S), as for a page.
        return Ran(outcome.value, max(decision.delay_s, claim_timeout().total_seconds()))
    return Ran(outcome.value, 0.0)


def error_code(exc: PlivoError) -> str:
    """What a request refused for good is recorded with: its HTTP status, or its kind."""
    return f"http_{exc.status}" if exc.status else type(exc).__name__


def _settle(sender: ChannelSender, means: Means, send_id: str, now: datetime) -> Ran:
    """Settle every abandoned claim of the channel at Plivo before anything more is sent."""
    with session_scope(context.database_url()) as session:
        batches = stale_batches(session, send_id, now - sender.settle_after(), sender.channel)
    results = [means.settle(batch) for batch in batches]
    for result in results:
        if result in ("found", "resent"):
            means.counter.labels(result="reconciled" if result == "found" else "resent").inc()
    log.warning("notice %s send %s: abandoned claims settled: %s", sender.channel, send_id, results)
    return Ran(Step.SETTLE.value, SETTLE_AGAIN_S if "unsettled" in results else 0.0)


def search(
    lister: Callable[..., list[dict[str, Any]]],
    match: Callable[[list[dict[str, Any]]], str | None],
    *,
    time_field: str,
    since: datetime,
) -> tuple[str | None, bool]:
    """Page back through a Plivo list (newest first) for `match`: (what it found, whether
    the search reached back to `since`; else it is inconclusive)."""
    found: str | None = None
    for page in range(MAX_PAGES):
        records = lister(limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        # A later page holds older records: the oldest match wins.
        found = match(records) or found
        if len(records) < PAGE_SIZE or older_than(records, since, time_field):
            return found, True
    return found, False


def adopt_or_release(batch: StaleBatch, found: str | None, complete: bool) -> str:
    """Found at Plivo: handed off with its id. Proved absent: back to pending. Else kept."""
    with session_scope(context.database_url()) as session:
        if found is not None:
            record_accepted(session, batch.batch_id, {batch.numbers[0]: found}, (), utcnow())
            return "found"
        if complete:
            release_batch(session, batch.batch_id, utcnow())
            return "resent"
    return "unsettled"


def fail_unknown(batch: StaleBatch, code: str) -> str:
    with session_scope(context.database_url()) as session:
        fail_batch(session, batch.batch_id, code, utcnow())
    return "failed"


def requeue(task_name: str, send_id: str, countdown: float, attempt: int = 0) -> bool:
    """The chain's next run, `countdown` seconds from now (a long wait in hops); False
    when the broker is down (beat hands the send over again)."""
    step = hop(countdown, time.time())
    kwargs: dict[str, object] = {"attempt": attempt}
    if step.resume_at is not None:
        kwargs["resume_at"] = step.resume_at
    try:
        app.send_task(
            task_name,
            args=[send_id],
            kwargs=kwargs,
            countdown=step.countdown_s if step.countdown_s > 0 else None,
            priority=NOTICE_PRIORITY,
        )
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, notice send %s left for beat: %s", send_id, exc)
        return False
    return True


def start_chains(send_id: str) -> None:
    """Start the call and WhatsApp chains of a send (each stops at once if it has no rows)."""
    for name in (task_names.NOTICE_CALL_BATCH, task_names.NOTICE_WHATSAPP_BATCH):
        requeue(name, send_id, 0.0)
