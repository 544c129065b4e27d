"""What an update means for people already told: a correction to them, new words for the rest.

Pure, `now` passed in. For each window that people were told about and that
is not over (a "family" of sends: a one-off notice has one, a recurring one
one per window), the plan says:

- `correction`: the words for everyone already handed the old text
  ("Update: DB upgrade now ends at Sun 7 Dec 04:00 CET (was 03:30 CET)."),
  or None when nothing they were told changed;
- `rest`: the sends still going out whose words change: their rows not yet
  handed off move to a new send with the new words (the store does it as one
  compare-and-set on `pending`, so a batch cannot take a row in between);
- `moved`: a one-off window that moved gets a new occurrence key, so each
  reminder already sent is claimed under the new key as well. A reminder is
  never repeated for the same maintenance: the correction told those people,
  and reminders not yet sent go at their new times with the new words.

Send kinds are read from the reminder key: a reminder (`-24h`, `start`), a
correction (`update-2`), the rest of a send under new words (`update-2:start`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.notices.delivery_state import SendState
from shared.notices.model import Notice, NoticeChannel, Reminder
from shared.notices.schedule import DueSend, Occurrence, first_occurrence
from shared.notices.store import rendered_texts
from shared.notices.templates import format_instant

UPDATE_PREFIX = "update-"
# The channel a correction goes by, for each channel people were told on. WhatsApp
# takes approved templates only, never free words: its people get the correction by
# SMS, which they accepted with it (shared.notices.recipients).
CORRECTED_ON: dict[str, str] = {
    NoticeChannel.SMS.value: NoticeChannel.SMS.value,
    NoticeChannel.VOICE.value: NoticeChannel.VOICE.value,
    NoticeChannel.WHATSAPP.value: NoticeChannel.SMS.value,
}
MOVED_FROM = "moved_from"  # in a placeholder send's texts: the send that told people
# Sends whose people may have been told (a missed or cancelled send told nobody).
_TOLD_SENDS = frozenset({SendState.SCHEDULED, SendState.SENDING, SendState.DONE})
_OPEN = frozenset({SendState.SCHEDULED, SendState.SENDING})


@dataclass(frozen=True, slots=True)
class SendFact:
    """A recorded send, as the plan needs it."""

    id: str
    occurrence_key: str
    reminder_key: str
    state: str
    due_at: datetime
    texts: Mapping[str, Any]

    @classmethod
    def of(cls, row: Any) -> SendFact:
        """From a `notice_sends` row (shared.core.models.NoticeSend)."""
        return cls(
            row.id, row.occurrence_key, row.reminder_key, row.state, row.due_at, row.texts or {}
        )

    @property
    def kind(self) -> str:
        """reminder | correction | rest | moved (a placeholder: its people were told elsewhere)."""
        if MOVED_FROM in self.texts:
            return "moved"
        if self.reminder_key.startswith(UPDATE_PREFIX):
            return "rest" if ":" in self.reminder_key else "correction"
        return "reminder"

    @property
    def reminder(self) -> str | None:
        """The reminder whose words it carries (None for a correction)."""
        if self.kind == "correction":
            return None
        return self.reminder_key.split(":", 1)[1] if self.kind == "rest" else self.reminder_key


@dataclass(frozen=True, slots=True)
class RestSend:
    """An open send's rows not yet handed off, to go out under new words."""

    from_send: str
    reminder_key: str  # update-N:REMINDER
    texts: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FamilyUpdate:
    """One window people were told about, before and after the change."""

    old: Occurrence
    new: Occurrence
    send_ids: tuple[str, ...]  # every send of the family: their told rows get the correction
    correction: str | None
    correction_key: str  # update-N
    rest: tuple[RestSend, ...] = ()
    moved: tuple[DueSend, ...] = ()


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    number: int  # N of update-N
    families: tuple[FamilyUpdate, ...] = field(default=())

    @property
    def anything(self) -> bool:
        return any(f.correction or f.rest or f.moved for f in self.families)


def update_number(sends: Sequence[SendFact]) -> int:
    """1 + the highest update number so far, so each update's sends have keys of their own."""
    numbers = [
        int(s.reminder_key[len(UPDATE_PREFIX) :].split(":", 1)[0])
        for s in sends
        if s.kind in ("correction", "rest")
    ]
    return max(numbers, default=0) + 1


def occurrence_at(key: str, length_of: Notice) -> Occurrence:
    start = datetime.strptime(key, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return Occurrence(start, start + length_of.window.length)


def _families(old: Notice, sends: Sequence[SendFact]) -> dict[str, list[SendFact]]:
    """Sends grouped by the window they are about (a one-off notice: all of them)."""
    if not old.window.recurring:
        key = first_occurrence(old.window).key
        return {key: list(sends)} if sends else {}
    groups: dict[str, list[SendFact]] = {}
    for send in sends:
        groups.setdefault(send.occurrence_key, []).append(send)
    return groups


def _counterpart(old: Notice, new: Notice, old_occurrence: Occurrence) -> Occurrence:
    """The same window after the change (a recurring window keeps its start)."""
    if not old.window.recurring:
        return first_occurrence(new.window)
    return Occurrence(old_occurrence.start, old_occurrence.start + new.window.length)


def texts_for(
    name: str, notice: Notice, occurrence: Occurrence, reminder_key: str
) -> dict[str, Any]:
    """A reminder's words for a window, as a send stores them (shared.notices.store)."""
    reminder = Reminder.model_validate(reminder_key)
    due = DueSend(name, occurrence, reminder, reminder.due_at(occurrence.start, occurrence.end))
    return rendered_texts(notice, due)


def window_correction(notice: Notice, old: Occurrence, new: Occurrence) -> str:
    """ "Update: DB upgrade now ends at ... (was ...)." in the window's own time zone."""
    zone = notice.window.zone

    def at(instant: datetime) -> str:
        return format_instant(instant, zone)

    if old.start == new.start:
        return f"Update: {notice.title} now ends at {at(new.end)} (was {at(old.end)})."
    return (
        f"Update: {notice.title} now runs from {at(new.start)} to {at(new.end)} "
        f"(was {at(old.start)} to {at(old.end)})."
    )


def _words_correction(notice: Notice, new_texts: Mapping[str, Any]) -> str | None:
    text = new_texts.get(NoticeChannel.SMS.value) or new_texts.get(NoticeChannel.VOICE.value)
    return f"Update: {text}" if isinstance(text, str) else None


def plan_update(
    name: str, old: Notice, new: Notice, sends: Sequence[SendFact], now: datetime
) -> UpdatePlan:
    """What the change from `old` to `new` does to what was, or is being, sent."""
    number = update_number(sends)
    families = []
    for key, members in sorted(_families(old, sends).items()):
        told = [s for s in members if s.state in _TOLD_SENDS and s.kind != "moved"]
        old_occurrence = (
            occurrence_at(key, old) if old.window.recurring else first_occurrence(old.window)
        )
        if not told or old_occurrence.end <= now:
            continue  # nobody told, or that maintenance is over: nothing to correct
        update = _family(name, old, new, number, old_occurrence, members, told)
        if update is not None:
            families.append(update)
    return UpdatePlan(number, tuple(families))


def _family(
    name: str,
    old: Notice,
    new: Notice,
    number: int,
    old_occurrence: Occurrence,
    members: Sequence[SendFact],
    told: Sequence[SendFact],
) -> FamilyUpdate | None:
    new_occurrence = _counterpart(old, new, old_occurrence)
    worded = [s for s in told if s.reminder is not None]
    fresh = {s.id: texts_for(name, new, new_occurrence, s.reminder or "") for s in worded}
    changed = [s for s in worded if dict(s.texts) != fresh[s.id]]
    moved_window = (old_occurrence.start, old_occurrence.end) != (
        new_occurrence.start,
        new_occurrence.end,
    )
    if not moved_window and not changed:
        return None
    if moved_window:
        correction: str | None = window_correction(new, old_occurrence, new_occurrence)
    else:
        latest = max(changed, key=lambda s: s.due_at)
        correction = _words_correction(new, fresh[latest.id])
    rest = tuple(
        RestSend(s.id, f"{UPDATE_PREFIX}{number}:{s.reminder}", fresh[s.id])
        for s in changed
        if s.state in _OPEN
    )
    return FamilyUpdate(
        old=old_occurrence,
        new=new_occurrence,
        send_ids=tuple(s.id for s in members),
        correction=correction,
        correction_key=f"{UPDATE_PREFIX}{number}",
        rest=rest,
        moved=_moved(name, new, new_occurrence, old_occurrence, told, members),
    )


def _moved(
    name: str,
    new: Notice,
    new_occurrence: Occurrence,
    old_occurrence: Occurrence,
    told: Sequence[SendFact],
    members: Sequence[SendFact],
) -> tuple[DueSend, ...]:
    """Reminders already sent, claimed under a moved window's key so beat never repeats them."""
    if new_occurrence.key == old_occurrence.key:
        return ()
    known = {s.id for s in members}
    found: dict[str, DueSend] = {}
    for send in told:
        if send.kind != "reminder":
            continue
        reminder = Reminder.model_validate(send.reminder_key)
        due = DueSend(
            name,
            new_occurrence,
            reminder,
            reminder.due_at(new_occurrence.start, new_occurrence.end),
        )
        if due.id not in known:
            found.setdefault(due.id, due)
    return tuple(found.values())
