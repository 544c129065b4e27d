"""What `notice list | show | status` and the notices API show, as plain data.

One reading for both, so a script and a terminal never disagree: the API
answers these dicts as JSON, the CLI prints them. Instants are ISO 8601 in
UTC. Reads the database; the decisions (which windows, which sends are in
view, the ETA) are pure functions with `now` passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.core.models import NoticeRecord, NoticeSend
from shared.notices.corrections import SendFact
from shared.notices.delivery_state import OPEN_SENDS, DeliveryState
from shared.notices.model import Notice
from shared.notices.progress import Progress, delivery_counts, summarize
from shared.notices.schedule import Occurrence, next_occurrence, sends_of
from shared.notices.store import API, FILE

D = DeliveryState
UPCOMING_WINDOWS = 3


def iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant is not None else None


def upcoming(notice: Notice, now: datetime, count: int = UPCOMING_WINDOWS) -> list[Occurrence]:
    """The window running at `now` and the next ones, up to `count`."""
    found: list[Occurrence] = []
    at = now
    while len(found) < count:
        occurrence = next_occurrence(notice.window, at)
        if occurrence is None or (found and occurrence == found[-1]):
            break
        found.append(occurrence)
        at = occurrence.end
    return found


def summary(
    name: str, source: str, notice: Notice | None, record: NoticeRecord | None, now: datetime
) -> dict[str, Any]:
    """One line of `notice list`: what it is, where it is defined, its next window."""
    following = upcoming(notice, now, 1) if notice is not None else []
    return {
        "name": name,
        "source": source,
        "title": notice.title if notice is not None else None,
        "kind": notice.window.kind if notice is not None else None,
        "channels": [c.value for c in notice.sending_channels] if notice is not None else [],
        "reminders": [r.key for r in notice.ordered_reminders] if notice is not None else [],
        "next_window": _window(following[0]) if following else None,
        "cancelled_at": iso(record.cancelled_at) if record is not None else None,
    }


def _window(occurrence: Occurrence) -> dict[str, Any]:
    return {"start": iso(occurrence.start), "end": iso(occurrence.end)}


def list_view(
    file_notices: Mapping[str, Notice],
    records: Iterable[NoticeRecord],
    stored: Mapping[str, Notice],
    now: datetime,
) -> list[dict[str, Any]]:
    """Every notice, the file's first, then those made by API, by name."""
    rows = {record.name: record for record in records}
    found = [
        summary(name, FILE, notice, rows.get(name), now) for name, notice in file_notices.items()
    ]
    for name in sorted(rows):
        record = rows[name]
        if record.source == API and name not in file_notices:
            found.append(summary(name, API, stored.get(name), record, now))
    return found


def send_view(send: NoticeSend, counts: Mapping[tuple[str, str | None], int]) -> dict[str, Any]:
    by_state = {state.value: 0 for state in DeliveryState}
    for (state, _reason), count in counts.items():
        by_state[state] = by_state.get(state, 0) + count
    return {
        "id": send.id,
        "kind": SendFact.of(send).kind,
        "reminder": send.reminder_key,
        "occurrence": send.occurrence_key,
        "due_at": iso(send.due_at),
        "state": send.state,
        "created_at": iso(send.created_at),
        "finished_at": iso(send.finished_at),
        "deliveries": by_state,
    }


def show_view(
    session: Session,
    name: str,
    source: str,
    notice: Notice,
    definition: Mapping[str, Any],
    record: NoticeRecord | None,
    now: datetime,
) -> dict[str, Any]:
    """A notice in full: its definition, its next windows and their reminders, its sends."""
    sends = list(
        session.scalars(
            select(NoticeSend).where(NoticeSend.notice == name).order_by(NoticeSend.created_at)
        )
    )
    states = {send.id: send.state for send in sends}
    windows = []
    for occurrence in upcoming(notice, now):
        reminders = [
            {
                "reminder": due.reminder.key,
                "due_at": iso(due.due_at),
                "send_id": due.id if due.id in states else None,
                "state": states.get(due.id) or ("upcoming" if due.due_at > now else "not sent"),
            }
            for due in sends_of(name, notice, occurrence)
        ]
        windows.append({**_window(occurrence), "reminders": reminders})
    return {
        "name": name,
        "source": source,
        "created_at": iso(record.created_at) if record is not None else None,
        "updated_at": iso(record.updated_at) if record is not None else None,
        "cancelled_at": iso(record.cancelled_at) if record is not None else None,
        "definition": dict(definition),
        "next_windows": windows,
        "sends": [send_view(send, delivery_counts(session, send_id=send.id)) for send in sends],
    }


def in_view(sends: Sequence[NoticeSend]) -> list[NoticeSend]:
    """The sends a notice's status follows: those still going out, else the latest batch of
    sends (created together: a reminder, or an update's correction and new words)."""
    going = [send for send in sends if send.state in OPEN_SENDS]
    if going or not sends:
        return going
    latest = max(send.created_at for send in sends)
    return [send for send in sends if send.created_at == latest]


def status_sends(session: Session, *, notice: str | None, send_id: str | None) -> list[NoticeSend]:
    if send_id is not None:
        found = session.get(NoticeSend, send_id)
        return [found] if found is not None else []
    rows = session.scalars(select(NoticeSend).where(NoticeSend.notice == notice))
    return in_view(list(rows))


def progress_of(
    session: Session, sends: Sequence[NoticeSend], rate_per_s: float, now: datetime
) -> Progress:
    counts: dict[tuple[str, str | None], int] = {}
    for send in sends:
        for key, count in delivery_counts(session, send_id=send.id).items():
            counts[key] = counts.get(key, 0) + count
    return summarize(counts, rate_per_s, now)


def status_view(name: str, sends: Sequence[NoticeSend], progress: Progress) -> dict[str, Any]:
    """The figures of `notice status`: counts per state, done so far, the ETA."""
    by_state = progress.by_state
    return {
        "notice": name,
        "sends": [{"id": s.id, "state": s.state, "kind": SendFact.of(s).kind} for s in sends],
        "total": progress.total,
        "handed_off": progress.handed_off,
        "delivered": by_state[D.DELIVERED],
        "failed": by_state[D.FAILED],
        "skipped": by_state[D.SKIPPED],
        "remaining": progress.remaining,
        "percent_done": round(100 * progress.fraction_done, 1),
        "by_state": dict(by_state),
        "skipped_by_reason": dict(progress.skipped_by_reason),
        "eta": iso(progress.eta),
        "done": all(s.state not in OPEN_SENDS for s in sends),
    }


def sending_rate(sms_per_second: float, sender_sms_per_second: float, senders: int) -> float:
    """What a notice can use at most: the account's rate, or the sender pool's if smaller."""
    return min(sms_per_second, sender_sms_per_second * max(senders, 1))
