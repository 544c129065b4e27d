"""Beat's hand-off notices (every 30 s): text each person about to come on call, once per shift.

Which notices are due is decided by shared.schedules.handoff_notices, from the
on-call file in force and the stored overrides. Each leaves the way an answer to
an inbound text does (worker.sending.sms.send_answer): from the person's sender
in the pool (or the Powerpack), booked under the same rate-limit keys (but not
the person's paging caps), through the backup account while the primary's
circuit is open. Pages come first: a notice the limiter holds back is looked at
again 30 s later, until its shift starts.

Before the request its key (schedule, shift start, contact) is inserted into
`handoff_notices`; the insert that wins sends, so a second beat, a redelivered
task or the next look sends nothing more. A crash between the insert and the
request loses that notice rather than risk texting twice; a failed request is
recorded on the row and logged, and not tried again (a notice is not a page).
"""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shared.core.db import session_scope
from shared.core.metrics import SMS_SENT
from shared.core.models import HandoffNoticeRecord, utcnow
from shared.core.phone import mask
from shared.notifications.store import is_opted_out
from shared.plivo.errors import PlivoError
from shared.routing.config_models import Channel, OncallConfig
from shared.routing.route import current_config
from shared.schedules.handoff_notices import DueNotice, due_notices
from shared.schedules.override_store import overrides_between
from shared.schedules.resolve import HORIZON
from worker import context, task_names
from worker.celery_app import app
from worker.sending.gate import pass_gate
from worker.sending.sms import send_answer, text_checks

log = logging.getLogger(__name__)


@app.task(name=task_names.HANDOFF_NOTICES)
def handoff_notices() -> dict[str, int]:
    """Send the notices due now; the outcome of each, counted ("sent", "delayed", ...)."""
    config = current_config(context.settings().config_file)
    if config is None:
        return {}
    outcomes = Counter(_deliver(notice, number) for notice, number in _to_send(config))
    return dict(outcomes)


def _to_send(config: OncallConfig) -> list[tuple[DueNotice, str]]:
    """The notices due and not yet claimed, each with the number to text: people who take
    texts and did not reply STOP."""
    schedules = [s for s in config.schedules.values() if s.handoff_notice is not None]
    if not schedules:
        return []
    now = utcnow()
    with session_scope(context.database_url()) as session:
        due: list[DueNotice] = []
        for schedule in schedules:
            overrides = overrides_between(session, now - HORIZON, now + HORIZON, schedule.name)
            due.extend(due_notices(schedule, overrides, now))
        if not due:
            return []
        claimed = {
            (row.schedule, row.shift_start, row.contact)
            for row in session.scalars(
                select(HandoffNoticeRecord).where(HandoffNoticeRecord.shift_start > now)
            )
        }
        found: list[tuple[DueNotice, str]] = []
        for notice in due:
            contact = config.contacts.get(notice.contact)
            if (notice.schedule, notice.shift_start, notice.contact) in claimed or contact is None:
                continue
            if contact.accepts(Channel.SMS) and not is_opted_out(session, contact.phone):
                found.append((notice, contact.phone))
        return found


def _deliver(notice: DueNotice, destination: str) -> str:
    gate = pass_gate(text_checks(destination, count_for_person=False), slot_booked=False)
    if not gate.go:
        return "delayed"  # the next look, 30 s on, books again
    if not _claim(notice):
        return "duplicate"
    try:
        result = send_answer(destination, notice.text)
    except PlivoError as exc:
        SMS_SENT.labels(result="handoff_failed").inc()
        log.warning(
            "hand-off notice for %s (%s) to %s not sent: %s",
            notice.schedule,
            notice.contact,
            mask(destination),
            exc,
        )
        status = f" {exc.status}" if exc.status is not None else ""
        _record(notice, error=f"{type(exc).__name__}{status}")
        return "failed"
    uuid = result.message_uuids[0] if result.message_uuids else None
    _record(notice, sent_at=utcnow(), message_uuid=uuid)
    SMS_SENT.labels(result="handoff_notice").inc()
    log.info("hand-off notice for %s sent to %s", notice.schedule, notice.contact)
    return "sent"


def _claim(notice: DueNotice) -> bool:
    """True for the one run that may send this notice: its key is new, committed now."""
    try:
        with session_scope(context.database_url()) as session:
            session.add(
                HandoffNoticeRecord(
                    schedule=notice.schedule, shift_start=notice.shift_start, contact=notice.contact
                )
            )
    except IntegrityError:
        return False
    return True


def _record(notice: DueNotice, **outcome: object) -> None:
    with session_scope(context.database_url()) as session:
        session.execute(
            update(HandoffNoticeRecord)
            .where(
                HandoffNoticeRecord.schedule == notice.schedule,
                HandoffNoticeRecord.shift_start == notice.shift_start,
                HandoffNoticeRecord.contact == notice.contact,
            )
            .values(**outcome)
        )
