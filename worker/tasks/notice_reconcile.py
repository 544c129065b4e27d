"""Settle notice batches abandoned mid-request: ask Plivo before anything is sent again.

A batch is claimed (and committed) before its request, and recorded after
the answer. A claim older than any request can take (`claim_timeout`: the
connect and read timeouts and the commit after them, as for a page's stuck
send; shared.notices.chain_timing) belongs to a worker that died, or to a
request whose answer was lost. Its send sends nothing more meanwhile
(notices.send_batch waits), and this task reads Plivo's list of outbound
messages back to the claim: numbers Plivo has are handed off with their
uuids, the others go back to pending and are sent by the next batch. A search
that cannot reach back to the claim (too many messages since) adopts what it
found and leaves the rest claimed, to be tried again: never a resend on a guess.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta

from kombu.exceptions import OperationalError

from shared.core.db import session_scope
from shared.core.metrics import NOTICE_SMS
from shared.core.models import utcnow
from shared.core.phone import mask
from shared.core.settings import Settings
from shared.notices import chain_timing
from shared.notices.deliveries import (
    StaleBatch,
    adopt,
    record_accepted,
    stale_batches,
    uuids_taken,
)
from shared.notices.provider_match import match_numbers, reached_back, search_since
from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoError
from worker import context, task_names
from worker.celery_app import app
from worker.queues import NOTICE_PRIORITY
from worker.sending.lookup_budget import paced
from worker.sending.providers import provider_named

log = logging.getLogger(__name__)

# Up to 5,000 messages back; the send is paused meanwhile, so only pages and
# other notices' messages lie between the claim and the search.
MAX_PAGES = 250
PAGE_SIZE = 20


def claim_timeout(settings: Settings | None = None) -> timedelta:
    """How old a claim is before it cannot belong to a request still under way."""
    settings = settings or context.settings()
    return chain_timing.claim_timeout(settings.plivo_connect_timeout + settings.plivo_read_timeout)


def settle_later(send_id: str) -> bool:
    """Hand the send's abandoned claims to this task; False when the broker is down."""
    try:
        notice_reconcile.apply_async(args=[send_id], priority=NOTICE_PRIORITY)
    except (OperationalError, OSError) as exc:
        log.warning("broker unavailable, notice reconcile of %s left for later: %s", send_id, exc)
        return False
    return True


@app.task(name=task_names.NOTICE_RECONCILE)
def notice_reconcile(send_id: str) -> dict[str, int]:
    """Settle every claim of the send older than `claim_timeout`."""
    now = utcnow()
    with session_scope(context.database_url()) as session:
        batches = stale_batches(session, send_id, now - claim_timeout())
    totals = {"found": 0, "resent": 0, "unsettled": 0}
    for batch in batches:
        found, resent, unsettled = settle_batch(batch)
        totals["found"] += found
        totals["resent"] += resent
        totals["unsettled"] += unsettled
    if batches:
        log.warning("notice send %s: abandoned claims settled at Plivo: %s", send_id, totals)
    return totals


def settle_batch(batch: StaleBatch) -> tuple[int, int, int]:
    """(found at Plivo, given back to send, left claimed) for one abandoned batch."""
    with session_scope(context.database_url()) as session:
        taken = uuids_taken(session, batch.numbers)
    client = provider_named(batch.provider).client
    try:
        found, complete = search(client, batch.numbers, search_since(batch.claimed_at), taken)
    except PlivoError as exc:
        log.warning("notice batch %s cannot be settled now (%s)", batch.batch_id, exc)
        return 0, 0, len(batch.numbers)
    with session_scope(context.database_url()) as session:
        if complete:
            resent = adopt(session, batch, found, utcnow())
        else:  # what Plivo has is certain; the rest stays claimed
            resent = 0
            record_accepted(session, batch.batch_id, found, (), utcnow())
    NOTICE_SMS.labels(result="reconciled").inc(len(found))
    NOTICE_SMS.labels(result="resent").inc(resent)
    unsettled = len(batch.numbers) - len(found) - resent
    if unsettled:
        log.error(
            "notice batch %s: %d number(s) (first %s) not found within %d messages of Plivo's "
            "list; left claimed, tried again later",
            batch.batch_id,
            unsettled,
            mask(batch.numbers[0]),
            MAX_PAGES * PAGE_SIZE,
        )
    return len(found), resent, unsettled


def search(
    client: PlivoClient, numbers: list[str], since: datetime, taken: Collection[str]
) -> tuple[dict[str, str], bool]:
    """Plivo's messages to `numbers` since `since`, and whether the search reached back."""
    found: dict[str, str] = {}
    look_up = paced(client, client.list_messages)
    for page in range(MAX_PAGES):
        records = look_up(limit=PAGE_SIZE, offset=page * PAGE_SIZE)
        # Newest first: a later page holds older messages, and the oldest one wins.
        found.update(match_numbers(records, numbers=numbers, since=since, taken=taken))
        if len(found) == len(numbers) or reached_back(records, PAGE_SIZE, since):
            return found, True
    return found, False
