"""Apply the report inbox: page delivery reports in batches, one transaction per batch.

The receiver leaves each verified report in the inbox (shared.notifications.
report_inbox) and answers Plivo; this task applies them. One drainer at a
time (a short Redis lock): it reads up to BATCH_SIZE reports from the head,
records and applies them in one transaction (shared.notifications.
delivery_reports), hands over the texts that ended unreached, and only then
trims them off. A drainer killed before its trim leaves them to the next one,
which finds each recorded already: a duplicate moves and hands over nothing.
On SQLite this is one write transaction per batch instead of one per report,
so pages stop queueing behind reports.

Started by a push that found the inbox empty and no drainer holding it
(report_inbox.Pushed), and by the hand-over of sends (every second, at the
first priority) whenever reports wait and nobody holds the inbox (a lost
start), or its holder has died: the lock names the drainer's liveness token
(worker.sending.liveness), and a lapsed one frees the inbox at once instead of
after the lock's 30 s. A drainer reads until
a read finds nothing, pausing GATHER_S after each short batch so a stream of
reports is applied in batches of dozens. A drainer that finds the lock taken
leaves: the holder reads what was pushed meanwhile, and checks once more after
letting go.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Final

import redis
from sqlalchemy.exc import DataError, IntegrityError

from shared.core.db import session_scope
from shared.core.metrics import DELIVERY_REPORTS
from shared.notifications import report_inbox
from shared.notifications.accepted_sends import AcceptedSend
from shared.notifications.delivery_reports import (
    SEND_ACCEPTED,
    EntryResult,
    InboxReport,
    apply_inbox_entries,
    apply_inbox_report,
    hand_over_ended,
    read_inbox_entry,
)
from worker import context, enqueue, task_names
from worker.celery_app import app
from worker.sending import liveness

log = logging.getLogger(__name__)

# One run drains for at most this long, then hands on to a fresh task, so a
# steady stream of reports never holds a worker (or its broker message) forever.
DRAIN_FOR_S: Final = 10.0
# After a batch short of BATCH_SIZE the drainer waits this long before it reads
# again, still holding the inbox, so the reports arriving meanwhile make one
# batch: at 1,000 reports a second, batches of 1 to 4 cost a transaction, a
# trim and a log line each (and, before pushes saw the drainer, a task each).
# A report's follow-up waits at most this much longer.
GATHER_S: Final = 0.05
# Errors a report's own data can cause: that report is dropped, not the batch.
# Anything else (the database down or locked) leaves the inbox as it was.
_ENTRY_ERRORS: Final = (DataError, IntegrityError)


@app.task(name=task_names.APPLY_DELIVERY_REPORTS)
def apply_delivery_reports() -> int:
    """Drain the report inbox; how many reports this run took off it. Safe to run at any time."""
    client = context.redis_client()
    token = report_inbox.acquire(client, liveness.claimer_token(context.redis_client))
    if token is None:
        return 0  # another drainer holds the inbox and reads what is pushed meanwhile
    taken = 0
    deadline = time.monotonic() + DRAIN_FOR_S
    try:
        while time.monotonic() < deadline:
            count = drain_batch(client, token, context.database_url(), enqueue.notification_ended)
            if not count:
                break
            taken += count
            if count < report_inbox.BATCH_SIZE:
                time.sleep(GATHER_S)  # let the reports arriving meanwhile make the next batch
    finally:
        report_inbox.release(client, token)
    # Pushed after the last read (its push found our lock, not an empty inbox), or out of time.
    if report_inbox.waiting(client):
        enqueue.apply_delivery_reports()
    return taken


def drain_batch(
    client: redis.Redis,
    token: str,
    database_url: str,
    notification_ended: Callable[[int], bool],
) -> int | None:
    """Apply the inbox's head in one transaction, then trim it off.

    How many entries were taken off (0: the inbox is empty); None when the lock
    was lost, so another drainer owns the head: it applies these again, as duplicates.
    """
    raw = report_inbox.read_batch(client)
    if not raw:
        return 0
    results = apply_reports(database_url, readable(raw))
    # Handed over before the trim: a drainer killed after the commit re-applies
    # these as duplicates, which hand nothing over, so the hand-over goes first.
    for result in results:
        if result.outcome != SEND_ACCEPTED:
            DELIVERY_REPORTS.labels(status=result.status, outcome=result.outcome).inc()
        hand_over_ended(result.ended, notification_ended)
    if not report_inbox.trim(client, token, len(raw)):
        log.warning(
            "the report inbox's lock ran out during a batch of %d: the next drainer applies "
            "them again, and finds them recorded",
            len(raw),
        )
        return None
    log.info("applied %d delivery reports from the inbox", len(results))
    return len(raw)


def readable(raw: Sequence[bytes | str]) -> list[InboxReport | AcceptedSend]:
    """The entries that can be read; a malformed one is logged and dropped, never retried."""
    reports = []
    for position, entry in enumerate(raw):
        try:
            reports.append(read_inbox_entry(entry))
        except ValueError as exc:
            log.error(
                "dropped a malformed entry at position %d of the report inbox: %s", position, exc
            )
    return reports


def apply_reports(
    database_url: str, reports: Sequence[InboxReport | AcceptedSend]
) -> list[EntryResult]:
    """All in one transaction; if a report's own data breaks it, one transaction each."""
    try:
        with session_scope(database_url) as session:
            return apply_inbox_entries(session, reports)
    except _ENTRY_ERRORS as exc:
        log.error(
            "a batch of %d delivery reports was refused by the database (%s): "
            "applying them one at a time",
            len(reports),
            type(exc).__name__,
        )
    applied = (_apply_alone(database_url, report) for report in reports)
    return [result for result in applied if result is not None]


def _apply_alone(database_url: str, report: InboxReport | AcceptedSend) -> EntryResult | None:
    try:
        with session_scope(database_url) as session:
            return apply_inbox_report(session, report)
    except _ENTRY_ERRORS as exc:
        log.error(
            "delivery report %s for notification %s dropped: the database refused it (%s)",
            report.params.get("MessageUUID"),
            report.notification_id,
            type(exc).__name__,
        )
        return None


def start_if_waiting() -> bool:
    """For the hand-over of sends (every second): start a drainer when reports wait and
    nobody holds the inbox (its start was lost, or its drainer's lock lapsed), or its
    drainer died (its liveness key lapsed: the lock is freed); whether one was started."""
    client = context.redis_client()
    try:
        if not report_inbox.waiting(client):
            return False
        held = report_inbox.lock_token(client)
        if held is not None:
            if not _holder_died(client, held):
                return False  # alive, or it named no token: its lock runs out on its own
            report_inbox.release(client, held)  # only that lock: a newer one is left alone
            log.warning("the report inbox's drainer died: its lock is freed for a new drainer")
    except redis.RedisError as exc:
        log.warning("could not look at the report inbox: %s", exc)
        return False
    return enqueue.apply_delivery_reports()


def _holder_died(client: redis.Redis, token: str) -> bool:
    """Whether the lock `token` names a process whose liveness key has lapsed."""
    holder = report_inbox.holder_of(token)
    return holder is not None and holder in liveness.dead_claimers(client, [holder], time.time())
