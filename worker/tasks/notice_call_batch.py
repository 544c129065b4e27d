"""Voice notices: one call (or one PHLO run) per recipient, paced behind pages.

Runs a send's voice chain (worker/tasks/notice_single_chain.py) on the
account's calls per second, booking the pages' own keys (the account and its
spacing; no person caps: a notice is not a page). Each recipient gets one
`POST /Call/`: its answer URL speaks the send's words and its hang-up records
answered or not (webhooks/notice_voice.py, shared.notices.calls). A notice
naming a `phlo_id` runs that PHLO for each recipient instead
(shared.notices.phlo). A call claim abandoned mid-request is settled from
Plivo's call list; a PHLO run cannot be looked up, so it fails rather than
run twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from functools import partial
from typing import Any

from shared.core.db import session_scope
from shared.core.metrics import NOTICE_CALLS, PHLO_RUNS
from shared.core.phone import mask
from shared.notices.calls import (
    ANSWER_PATH,
    CALL_TIME_LIMIT_S,
    CHANNEL,
    HANGUP_PATH,
    call_settle_after,
    match_call,
)
from shared.notices.deliveries import StaleBatch, uuids_taken
from shared.notices.phlo import UNKNOWN_OUTCOME, PhloWords, phlo_words
from shared.notices.provider_match import search_since
from shared.plivo.callback_urls import notice_callback_url
from shared.plivo.channels import phlo_payload
from shared.plivo.errors import PlivoError
from shared.sending.limits import Checks
from worker import context, task_names
from worker.celery_app import app
from worker.sending.lookup_budget import paced
from worker.sending.providers import provider_named
from worker.tasks.notice_reconcile import claim_timeout
from worker.tasks.notice_single_chain import (
    ChannelSender,
    Claimed,
    Means,
    adopt_or_release,
    fail_unknown,
    run_chain,
    search,
)

log = logging.getLogger(__name__)


def _checks() -> Checks:
    account = context.settings().plivo_auth_id
    return context.send_limits().call_checks(account, "", count_for_person=False)


def _releases() -> Checks:
    return context.send_limits().call_spacing_checks(context.settings().plivo_auth_id)


def _settle_after() -> timedelta:
    return call_settle_after(claim_timeout(), context.settings().call_ring_timeout)


def _place_call(claimed: Claimed) -> str:
    settings = context.settings()
    base = settings.public_base_url
    result = claimed.provider.client.place_call(
        src=claimed.sender,
        dst=claimed.number,
        answer_url=notice_callback_url(base, ANSWER_PATH, claimed.batch_id),
        hangup_url=notice_callback_url(base, HANGUP_PATH, claimed.batch_id),
        ring_timeout=settings.call_ring_timeout,
        time_limit=CALL_TIME_LIMIT_S,
    )
    return result.request_uuid


def _run_phlo(words: PhloWords, claimed: Claimed) -> str:
    payload = phlo_payload(claimed.sender, claimed.number, words.variables)
    run = claimed.provider.client.run_phlo(words.phlo_id, payload)
    log.info("PHLO %s run %s for %s", words.phlo_id, run.phlo_run_id, mask(claimed.number))
    return run.phlo_run_id


def _settle_call(batch: StaleBatch) -> str:
    """Plivo's call list decides an abandoned call claim: adopt the call, or give it back."""
    number = batch.numbers[0]
    with session_scope(context.database_url()) as session:
        taken = uuids_taken(session, batch.numbers)
    since = search_since(batch.claimed_at)
    client = provider_named(batch.provider).client
    try:
        found, complete = search(
            paced(client, client.list_calls),
            lambda records: match_call(records, number=number, since=since, taken=taken),
            time_field="initiation_time",
            since=since,
        )
    except PlivoError as exc:
        log.warning("notice call %s cannot be settled now (%s)", batch.batch_id, exc)
        return "unsettled"
    return adopt_or_release(batch, found, complete)


def _means(texts: Mapping[str, Any]) -> Means | None:
    """A PHLO run when the send names one, else a call speaking its voice text."""
    words = phlo_words(texts)
    if words is not None:
        return Means(
            counter=PHLO_RUNS,
            accepted="ok",
            request=partial(_run_phlo, words),
            settle=partial(fail_unknown, code=UNKNOWN_OUTCOME),
            unknown_outcome=UNKNOWN_OUTCOME,
        )
    text = texts.get(CHANNEL)
    if not isinstance(text, str) or not text:
        return None
    return Means(counter=NOTICE_CALLS, accepted="placed", request=_place_call, settle=_settle_call)


SENDER = ChannelSender(
    channel=CHANNEL,
    task_name=task_names.NOTICE_CALL_BATCH,
    limit=lambda: context.send_limits().account_calls,
    checks=_checks,
    releases=_releases,
    settle_after=_settle_after,
    means=_means,
)


@app.task(name=task_names.NOTICE_CALL_BATCH)
def notice_call_batch(send_id: str, attempt: int = 0, resume_at: float | None = None) -> str:
    """One step of the send's voice chain or more, then on through the broker."""
    return run_chain(SENDER, send_id, attempt, resume_at)
