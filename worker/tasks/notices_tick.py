"""Beat's notice tick (every few seconds): start the sends that are due, report the missed.

The notices in force are the on-call file's and those created by API (the
`notices` table), less the cancelled ones. For each send due with no record
yet (shared.notices.ticking): due, or late within NOTICE_GRACE_S, it is created
with one row per recipient and its batch chain starts; past the grace period
it is recorded as missed, logged at ERROR and counted
(alert_dispatch_notice_sends_missed_total). Creating the send's row is the
claim: two ticks racing (a second beat, a redelivered tick) create it once.
The notices planned for are locked and read again before any send starts,
so an update or cancel is either seen whole or waits for this tick and then
corrects (or cancels) what it started (shared.notices.ticking.still_current).
A send whose batches went quiet for longer than a live chain ever does
(shared.notices.chain_timing.stalled_after: about 25 s with the default
Plivo timeouts) lost its task with the broker or a killed worker, and is
handed over again; its batches are safe to run twice, and a claim the dead
worker left is settled at Plivo before anything more is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shared.core.db import session_scope
from shared.core.metrics import NOTICE_SENDS_MISSED
from shared.core.models import utcnow
from shared.core.settings import Settings
from shared.notices.chain_timing import stalled_after
from shared.notices.model import Notice
from shared.notices.schedule import Decision, DueSend
from shared.notices.store import (
    FILE,
    known_notices,
    lock_notices,
    record_missed,
    recorded_send_ids,
    remember,
    stalled_sends,
    start_send,
)
from shared.notices.ticking import (
    KnownNotice,
    Planned,
    earliest_since,
    in_force,
    plan_tick,
    still_current,
)
from shared.routing.config_models import OncallConfig
from shared.routing.route import current_config
from worker import context, task_names
from worker.celery_app import app
from worker.tasks.notice_reconcile import claim_timeout
from worker.tasks.notice_send_batch import requeue
from worker.tasks.notice_single_chain import start_chains

log = logging.getLogger(__name__)

# Batch chains per send. One keeps up with the rate (a run sends batch after batch)
# and holds one worker process at a time; more would be safe (the limiter paces
# them together and each claims other rows) but would take processes from pages.
CHAINS = 1


@dataclass(frozen=True, slots=True)
class Ticked:
    """What one tick did in the database; the task starts the chains after the commit."""

    started: list[str]
    missed: list[DueSend]
    stalled: list[str]


@app.task(name=task_names.NOTICES_TICK)
def notices_tick() -> dict[str, int]:
    now = utcnow()
    settings = context.settings()
    config = current_config(settings.config_file)
    with session_scope(context.database_url()) as session:
        ticked = tick_notices(session, config, settings, now)
    started, missed, stalled = ticked.started, ticked.missed, ticked.stalled
    for send in missed:
        NOTICE_SENDS_MISSED.labels(notice=send.notice).inc()
        log.error(
            "notice %s: send %s due %s missed (found %.0f s late, past NOTICE_GRACE_S %.0f s): "
            "not sent",
            send.notice,
            send.id,
            f"{send.due_at:%Y-%m-%d %H:%M:%S %Z}",
            (now - send.due_at).total_seconds(),
            settings.notice_grace_s,
        )
    for send_id in [*started, *stalled]:
        for chain in range(CHAINS):
            requeue(send_id, 0.0, chain)
        start_chains(send_id)  # its calls and WhatsApp messages, one recipient a request
    if stalled:
        log.warning("notice sends handed over again after going quiet: %s", ", ".join(stalled))
    return {"started": len(started), "missed": len(missed), "stalled": len(stalled)}


def tick_notices(
    session: Session, config: OncallConfig | None, settings: Settings, now: datetime
) -> Ticked:
    """The tick's work in one transaction: sends started, missed ones recorded, quiet
    ones marked for hand-over."""
    known, active, first_seen = _notices_in_force(session, config, now)
    grace = timedelta(seconds=settings.notice_grace_s)
    recorded = recorded_send_ids(session, active, earliest_since(first_seen, now, grace))
    planned = plan_tick(active, first_seen, recorded, now, grace)
    # Locked before anything starts: an update or cancel committed since the read above
    # is seen here, and one coming later waits for this transaction (and sees its sends).
    locked = lock_notices(session, {item.send.notice for item in planned})
    planned, changed = still_current(planned, known, locked)
    if changed:
        log.info("notice(s) changed while the tick read them, planned again: %s", changed)
    started, missed = _act(session, planned, active, config, settings, now)
    stalled = stalled_sends(session, now - stalled_after(claim_timeout(settings)), now)
    return Ticked(started, missed, stalled)


def _notices_in_force(
    session: Session, config: OncallConfig | None, now: datetime
) -> tuple[dict[str, KnownNotice], dict[str, Notice], dict[str, datetime]]:
    """The `notices` rows as read, the notices in force, and when beat first knew each
    (a file notice: from now on)."""
    file_notices = dict(config.notices) if config is not None else {}
    known = known_notices(session)
    for name in file_notices:
        if name not in known and remember(session, name, FILE, now):
            known[name] = KnownNotice(name, FILE, None, now, False)
    active = in_force(file_notices, known)
    first_seen = {name: known[name].first_seen if name in known else now for name in active}
    return known, active, first_seen


def _act(
    session: Session,
    planned: list[Planned],
    active: Mapping[str, Notice],
    config: OncallConfig | None,
    settings: Settings,
    now: datetime,
) -> tuple[list[str], list[DueSend]]:
    """Start the due and late sends, record the missed ones: (started ids, missed sends)."""
    started: list[str] = []
    missed: list[DueSend] = []
    for item in planned:
        send = item.send
        if item.decision is Decision.MISSED:
            if record_missed(session, send, now):
                missed.append(send)
            continue
        if config is None:
            log.error("notice %s: no on-call file to find its audience in; not sent", send.notice)
            continue
        begun = start_send(session, send, active[send.notice], config, settings.sender_numbers, now)
        if begun is None:
            continue  # another tick created it first
        started.append(begun.send_id)
        _log_start(item, begun.pending, begun.opted_out, now)
        if begun.unsent_channels:
            log.warning(
                "notice %s: channel(s) %s not sent by this version; SMS only",
                send.notice,
                ", ".join(begun.unsent_channels),
            )
        if begun.unknown_names:
            log.error(
                "notice %s: audience names not in the on-call file, left out: %s",
                send.notice,
                ", ".join(begun.unknown_names),
            )
    return started, missed


def _log_start(item: Planned, pending: int, opted_out: int, now: datetime) -> None:
    late = (now - item.send.due_at).total_seconds()
    how = f"{late:.0f} s late, within the grace period" if item.decision is Decision.LATE else "due"
    log.info(
        "notice send %s starts (%s): %d deliveries to send, %d opted-out number(s) skipped",
        item.send.id,
        how,
        pending,
        opted_out,
    )
