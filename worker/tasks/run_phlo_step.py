"""Run a fired step's PHLO for one person (shared.steps.phlo_step), at most once.

As a call is placed: the person's and the account's call slots are booked
(a wait is a countdown, never a held worker), the account comes from the
breaker (worker.sending.providers), and a failed request means what it means
for a page (shared.sending.retry): retried with backoff while it may help,
failed when it cannot. A lost answer cannot be checked (Plivo has no API to
read a run back), so that run fails as `unknown_outcome` and is never run
again. A run that failed moves the chain on at once, loudly: an ERROR, an
event, a metric; unless a page of the same step may still reach someone, when
the step's wait stands, as for a page that failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.core.db import read_scope, session_scope
from shared.core.enums import AlertStatus
from shared.core.metrics import STEP_PHLO_RUNS
from shared.core.models import Alert, utcnow
from shared.core.phone import mask, mask_numbers_in
from shared.escalation.plan import Position
from shared.notices.phlo import UNKNOWN_OUTCOME
from shared.notifications.priority import page_priority
from shared.plivo.channels import PhloRun, phlo_payload
from shared.plivo.errors import PlivoError, PlivoRateLimited
from shared.routing.oncall_config import OncallConfig, Policy
from shared.routing.route import config_and_policy
from shared.schedules.override_store import active_overrides
from shared.sending.limits import sender_for
from shared.sending.retry import FailureOutcome, after_failed_request
from shared.steps.facts import StepAlert
from shared.steps.phlo_step import claim_key, next_numbers, people_of, phlo_variables, run_key
from shared.steps.step_log import (
    PHLO_CLAIMED,
    PHLO_FAILED,
    PHLO_RETRY,
    PHLO_RUN,
    move_on_after_failure,
    record,
    recorded,
)
from worker import context, enqueue, step_actions, task_names
from worker.celery_app import app
from worker.sending.gate import pass_gate, slow_down_account
from worker.sending.providers import Provider, choose_provider, report
from worker.tasks.notice_single_chain import error_code

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhloJob:
    """One person's run of a fired step, with everything the request and its outcome need."""

    alert_id: int
    position: Position
    contact: str
    number: str
    phlo_id: str
    variables: dict[str, str]
    severity: str
    policy: Policy


@app.task(name=task_names.RUN_PHLO_STEP)
def run_phlo_step(
    alert_id: int,
    step: int,
    round: int,
    contact: str,
    attempt: int = 0,
    slot_booked: bool = False,
) -> str:
    """Idempotent: a run's outcome is recorded once, and a claimed attempt never goes twice."""
    job = _load(alert_id, Position(step, round), contact)
    if isinstance(job, str):
        return job
    if not slot_booked:
        stopped = _gate(job, attempt)
        if stopped is not None:
            return stopped
    if not _claim(job, attempt):
        # This attempt was claimed before: its worker died around the request.
        return _fail(job, "ambiguous", UNKNOWN_OUTCOME, "worker lost during the request")
    provider = choose_provider()
    sender = sender_for(job.number, context.settings().sender_numbers)
    try:
        run = provider.client.run_phlo(job.phlo_id, phlo_payload(sender, job.number, job.variables))
    except PlivoError as exc:
        report(provider, exc)
        return _after_failure(job, exc, attempt)
    report(provider, None)
    _record_run(job, run, provider, attempt)
    return "ok"


def _load(alert_id: int, position: Position, contact: str) -> PhloJob | str:
    """The job, or why there is none: done before, alert closed, not in the chain."""
    now = utcnow()
    with read_scope(context.database_url()) as session:
        if recorded(session, run_key(alert_id, position, contact)):
            return "done"
        alert = session.get(Alert, alert_id)
        if alert is None or alert.status != AlertStatus.TRIGGERED:
            STEP_PHLO_RUNS.labels(result="skipped").inc()
            return "alert-closed"
        found = config_and_policy(alert, context.settings().config_file)
        phlo = _phlo_of(found, position)
        if found is None or phlo is None:
            log.error("alert %s: step %s has no PHLO to run", alert_id, position.step)
            return "not-in-chain"
        config, policy = found
        people = people_of(config, (contact,))
        if people != (contact,):
            return _fan_out(alert, position, people)
        overrides = active_overrides(session, now) if config.schedules else ()
        following = next_numbers(config, policy, position, now, overrides)
        return PhloJob(
            alert_id=alert_id,
            position=position,
            contact=contact,
            number=config.contacts[contact].phone,
            phlo_id=phlo,
            variables=phlo_variables(StepAlert.of(alert), following),
            severity=alert.severity,
            policy=policy,
        )


def _phlo_of(found: tuple[OncallConfig, Policy] | None, position: Position) -> str | None:
    if found is None or not 0 <= position.step < len(found[1].steps):
        return None
    phlo = found[1].steps[position.step].phlo
    return phlo.id if phlo is not None else None


def _fan_out(alert: Alert, position: Position, people: tuple[str, ...]) -> str:
    """A team named by the file in force (an alert from before chains were frozen):
    one run per member, as a frozen chain lists them."""
    priority = page_priority(alert.severity, round=position.round)
    for name in people:
        step_actions.run_phlo_step(alert.id, position, name, priority=priority)
    return "fanned-out" if people else "not-in-chain"


def _gate(job: PhloJob, attempt: int) -> str | None:
    """A run places a call: book the person's and the account's call slots, or come back."""
    checks = context.send_limits().call_checks(context.settings().plivo_auth_id, job.number)
    gate = pass_gate(checks, slot_booked=False)
    if gate.go:
        return None
    STEP_PHLO_RUNS.labels(result="delayed").inc()
    _requeue(job, attempt, gate.delay_s, gate.slot_booked)
    return "delayed"


def _claim(job: PhloJob, attempt: int) -> bool:
    """Committed before the request: False when this attempt was claimed before."""
    key = claim_key(job.alert_id, job.position, job.contact, attempt)
    detail = {"contact": job.contact, "phlo_id": job.phlo_id, "attempt": attempt + 1}
    with session_scope(context.database_url()) as session:
        return record(session, PHLO_CLAIMED, job.alert_id, job.position, detail, key)


def _record_run(job: PhloJob, run: PhloRun, provider: Provider, attempt: int) -> None:
    detail = {
        "contact": job.contact,
        "phlo_id": run.phlo_id,
        "phlo_run_id": run.phlo_run_id,
        "provider": provider.name,
        "attempts": attempt + 1,
    }
    key = run_key(job.alert_id, job.position, job.contact)
    with session_scope(context.database_url()) as session:
        record(session, PHLO_RUN, job.alert_id, job.position, detail, key)
    STEP_PHLO_RUNS.labels(result="ok").inc()
    log.info(
        "alert %s: PHLO %s run %s for %s (step %s)",
        job.alert_id,
        job.phlo_id,
        run.phlo_run_id,
        mask(job.number),
        job.position.step,
    )


def _after_failure(job: PhloJob, exc: PlivoError, attempt: int) -> str:
    """Retry while it may help (shared.sending.retry); else fail the run."""
    if isinstance(exc, PlivoRateLimited):
        slow_down_account(context.send_limits().account_calls)
    decision = after_failed_request(
        ambiguous=exc.ambiguous,
        retryable=exc.retryable,
        attempts=attempt + 1,
        reconcile_grace_s=context.settings().reconcile_grace_s,
    )
    error = mask_numbers_in(str(exc))[:300]
    if decision.outcome is FailureOutcome.RETRY:
        STEP_PHLO_RUNS.labels(result="retry").inc()
        detail = {"contact": job.contact, "attempt": attempt + 1, "delay_s": decision.delay_s}
        with session_scope(context.database_url()) as session:
            record(session, PHLO_RETRY, job.alert_id, job.position, {**detail, "error": error})
        log.warning(
            "alert %s: PHLO run for %s failed (%s), again in %.1fs",
            job.alert_id,
            job.contact,
            error,
            decision.delay_s,
        )
        _requeue(job, attempt + 1, decision.delay_s, False)
        return "retry"
    if decision.outcome is FailureOutcome.AMBIGUOUS:
        return _fail(job, "ambiguous", UNKNOWN_OUTCOME, error)
    return _fail(job, "failed", error_code(exc), error)


def _fail(job: PhloJob, result: str, code: str, error: str) -> str:
    """Record the run failed (once), move the chain on at once, and say so loudly."""
    key = run_key(job.alert_id, job.position, job.contact)
    with session_scope(context.database_url()) as session:
        if recorded(session, key):
            return "done"
        due, live = move_on_after_failure(
            session,
            job.alert_id,
            job.policy,
            job.position,
            utcnow(),
            reason=f"PHLO run for {job.contact} failed",
        )
        detail = {
            "contact": job.contact,
            "phlo_id": job.phlo_id,
            "code": code,
            "error": error,
            "moved_on": due is not None,
        }
        record(session, PHLO_FAILED, job.alert_id, job.position, detail, key)
    STEP_PHLO_RUNS.labels(result=result).inc()
    if due is not None:
        # Without waiting for the hand-over of steps (within a second).
        enqueue.fire_step(job.alert_id, due.step, due.round)
    then = "the chain moves on at once" if due is not None else _why_not_moved(live)
    log.error(
        "alert %s: PHLO %s run for %s at step %s failed (%s: %s); %s",
        job.alert_id,
        job.phlo_id,
        job.contact,
        job.position.step,
        code,
        error,
        then,
    )
    return result


def _why_not_moved(live: int) -> str:
    if live:
        return f"{live} page(s) of the step may still reach someone: its wait stands"
    return "the chain has moved on already"


def _requeue(job: PhloJob, attempt: int, countdown: float, slot_booked: bool) -> None:
    priority = page_priority(job.severity, round=job.position.round, attempt=attempt)
    step_actions.run_phlo_step(
        job.alert_id,
        job.position,
        job.contact,
        attempt=attempt,
        countdown=countdown,
        slot_booked=slot_booked,
        priority=priority,
    )
