"""Post a fired step's alert to its webhook (shared.steps.webhook_step), with retries.

Runs on the notify queue at the lowest priority, after the step's pages were
handed over, with short timeouts: a receiver that is down or hangs costs one
worker slot a few seconds per attempt and never delays a page. A retry is
this task published again with a countdown (exponential backoff, full
jitter); each attempt, its retry and the outcome are events of the alert.
An alert closed meanwhile is not posted. The URL and the secret are never
logged nor recorded (a chat webhook's URL is its credential): only its host.
Delivery is at least once: a worker lost after the receiver answered posts
again, with the same X-Alert-Dispatch-Delivery for the receiver to drop it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from shared.core.db import read_scope, session_scope
from shared.core.enums import AlertStatus
from shared.core.metrics import STEP_WEBHOOKS
from shared.core.models import Alert
from shared.escalation.plan import Position
from shared.routing.route import config_and_policy
from shared.routing.step_kinds import WebhookAction
from shared.steps.facts import StepAlert
from shared.steps.step_log import WEBHOOK_FAILED, WEBHOOK_POSTED, WEBHOOK_RETRY, record, recorded
from shared.steps.webhook_step import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    PostOutcome,
    delivery_id,
    next_attempt_in,
    outcome_of,
    post_headers,
    post_key,
    webhook_body,
)
from worker import context, step_actions, task_names
from worker.celery_app import app

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookJob:
    """One step's post: where, how, and the body, built once per attempt."""

    alert_id: int
    position: Position
    spec: WebhookAction
    body: bytes

    @property
    def host(self) -> str:
        return urlsplit(self.spec.url).hostname or "?"


@app.task(name=task_names.POST_WEBHOOK_STEP)
def post_webhook_step(alert_id: int, step: int, round: int, attempt: int = 0) -> str:
    """One attempt; the next one is published with its backoff, or the post fails."""
    job = _load(alert_id, Position(step, round))
    if isinstance(job, str):
        return job
    secret: str | None = None
    if job.spec.secret_env is not None:
        secret = os.environ.get(job.spec.secret_env) or None
        if secret is None:
            return _fail(job, attempt, f"environment variable {job.spec.secret_env} is not set")
    status, error = _post(job, secret)
    outcome = outcome_of(status)
    if outcome is PostOutcome.OK:
        _record_posted(job, status, attempt)
        return outcome.value
    reason = error or f"HTTP {status}"
    delay = next_attempt_in(outcome, attempt + 1)
    if delay is None:
        return _fail(job, attempt, reason)
    _retry(job, attempt, delay, reason)
    return outcome.value


def _load(alert_id: int, position: Position) -> WebhookJob | str:
    """The post to make, or why there is none: done before, alert closed, not in the chain."""
    with read_scope(context.database_url()) as session:
        if recorded(session, post_key(alert_id, position)):
            return "done"
        alert = session.get(Alert, alert_id)
        found = config_and_policy(alert, context.settings().config_file) if alert else None
        if alert is None or found is None or not 0 <= position.step < len(found[1].steps):
            return "not-in-chain"
        policy = found[1]
        spec = policy.steps[position.step].webhook
        if spec is None:
            return "not-in-chain"
        if alert.status != AlertStatus.TRIGGERED:
            STEP_WEBHOOKS.labels(format=spec.format.value, result="skipped").inc()
            return "alert-closed"
        body = webhook_body(
            spec.format,
            StepAlert.of(alert),
            policy=policy.name,
            position=position,
            public_base_url=context.settings().public_base_url,
        )
    return WebhookJob(alert_id, position, spec, body)


def _post(job: WebhookJob, secret: str | None) -> tuple[int | None, str | None]:
    """(HTTP status, None), or (None, the kind of failure): never the URL, which
    requests' messages carry and which may be the webhook's credential."""
    headers = post_headers(
        job.body,
        delivery=delivery_id(job.alert_id, job.position),
        secret=secret,
        timestamp=int(time.time()),
    )
    try:
        response = requests.post(
            job.spec.url,
            data=job.body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return None, type(exc).__name__
    response.close()
    return response.status_code, None


def _detail(job: WebhookJob, **more: object) -> dict[str, object]:
    return {"format": job.spec.format.value, "host": job.host, **more}


def _record_posted(job: WebhookJob, status: int | None, attempt: int) -> None:
    detail = _detail(job, status=status, attempts=attempt + 1)
    key = post_key(job.alert_id, job.position)
    with session_scope(context.database_url()) as session:
        record(session, WEBHOOK_POSTED, job.alert_id, job.position, detail, key)
    STEP_WEBHOOKS.labels(format=job.spec.format.value, result="ok").inc()
    log.info(
        "alert %s: step %s posted to the %s webhook at %s (HTTP %s, attempt %d)",
        job.alert_id,
        job.position.step,
        job.spec.format.value,
        job.host,
        status,
        attempt + 1,
    )


def _retry(job: WebhookJob, attempt: int, delay: float, reason: str) -> None:
    detail = _detail(job, attempt=attempt + 1, delay_s=round(delay, 3), error=reason)
    with session_scope(context.database_url()) as session:
        record(session, WEBHOOK_RETRY, job.alert_id, job.position, detail)
    STEP_WEBHOOKS.labels(format=job.spec.format.value, result="retry").inc()
    log.warning(
        "alert %s: webhook at %s failed (%s, attempt %d), again in %.1fs",
        job.alert_id,
        job.host,
        reason,
        attempt + 1,
        delay,
    )
    step_actions.post_webhook_step(
        job.alert_id, job.position, job.spec.format, attempt=attempt + 1, countdown=delay
    )


def _fail(job: WebhookJob, attempt: int, reason: str) -> str:
    detail = _detail(job, attempts=attempt + 1, error=reason)
    key = post_key(job.alert_id, job.position)
    with session_scope(context.database_url()) as session:
        record(session, WEBHOOK_FAILED, job.alert_id, job.position, detail, key)
    STEP_WEBHOOKS.labels(format=job.spec.format.value, result="failed").inc()
    log.error(
        "alert %s: webhook at %s of step %s failed for good (%s, after %d attempt(s))",
        job.alert_id,
        job.host,
        job.position.step,
        reason,
        attempt + 1,
    )
    return PostOutcome.FAILED.value
