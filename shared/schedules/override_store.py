"""Overrides of on-call schedules in the database: made, listed and removed by CLI and API,
read by whoever asks who is on call.

The on-call file stays the source of the rotation; an override ("Bob covers for
Alice from Friday 18:00 to Monday 09:00") is a row of `schedule_overrides`,
checked against the file when it is made (the schedule and both people must be
in it, and the person replaced must be in one of the schedule's layers).
Removing one stamps `removed_at` and keeps the row, which the event log refers
to. Every change is recorded in the event log by contact name, never a number.
Imports shared.core and this package only (the configuration is passed in), as
shared.routing imports this package.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from shared.core.events import record_event
from shared.core.models import ScheduleOverride
from shared.schedules.model import Schedule
from shared.schedules.overrides import Override
from shared.schedules.resolve import HORIZON, next_handoffs, on_call

if TYPE_CHECKING:
    from shared.routing.config_models import OncallConfig

CREATED = "schedule.override_created"
REMOVED = "schedule.override_removed"
MIN_YEAR, MAX_YEAR = 1970, 9000


class OverrideRefused(ValueError):
    """A new override the file does not allow: `field` names what is wrong, as the API
    reports it (`schedule`, `covering`, `replaces`, `start`, `end`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class OverrideNotFound(LookupError):
    """No override of that id in force or to come (never made, or removed already)."""

    def __init__(self, override_id: int) -> None:
        super().__init__(f"override {override_id} not found")
        self.override_id = override_id


@dataclass(frozen=True, slots=True)
class StoredOverride:
    """An override as listed: what the resolver applies, and who made it when."""

    override: Override
    created_at: datetime
    created_by: str
    removed_at: datetime | None


def parse_moment(text: str) -> datetime:
    """An ISO 8601 date and time as typed, with or without an offset; ValueError saying
    what is accepted. Only the form is checked: see `read_moment`."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f'"{text}" is not a time: use ISO 8601 with an offset (2027-01-08T18:00+01:00) '
            'or "YYYY-MM-DD HH:MM" in the schedule\'s time zone'
        ) from None


def read_moment(text: str, zone: ZoneInfo) -> datetime:
    """A time typed by a person, in UTC: ISO 8601 with an offset, or without one
    ("2027-01-08 18:00") a wall time in `zone`, the schedule's own; ValueError otherwise.

    A wall time skipped by a spring-forward change is read as the resolver reads
    hand-offs (the offset before the change), a repeated one as its first occurrence.
    Years far from now are refused: the rotation arithmetic looks months around a moment.
    """
    moment = parse_moment(text)
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=zone)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        moment = datetime.min.replace(tzinfo=UTC)  # refused just below
    if not MIN_YEAR <= moment.year <= MAX_YEAR:
        raise ValueError(f'"{text}" is out of range (years {MIN_YEAR} to {MAX_YEAR})')
    return moment


def checked_override(
    config: OncallConfig,
    schedule: str,
    covering: str,
    start: datetime,
    end: datetime,
    replaces: str | None = None,
) -> Override:
    """The override if the file allows it, else OverrideRefused naming the first field at
    fault. Pure: the file as loaded is the only thing consulted."""
    found = config.schedule_named(schedule)
    if found is None:
        raise OverrideRefused("schedule", f'unknown schedule "{schedule}"')
    if covering not in config.contacts:
        raise OverrideRefused("covering", f'unknown contact "{covering}"')
    if replaces is not None:
        if replaces not in config.contacts:
            raise OverrideRefused("replaces", f'unknown contact "{replaces}"')
        if replaces not in found.members:
            raise OverrideRefused(
                "replaces", f'"{replaces}" is in no layer of schedule "{schedule}"'
            )
        if replaces == covering:
            raise OverrideRefused("replaces", f'"{covering}" cannot cover for themselves')
    for field, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise OverrideRefused(field, "give a time with its offset")
    if end <= start:
        raise OverrideRefused("end", "must be after start")
    return Override(
        schedule=schedule,
        covering=covering,
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        replaces=replaces,
    )


def _stored(row: ScheduleOverride) -> StoredOverride:
    override = Override(
        schedule=row.schedule,
        covering=row.covering,
        start=row.start_at,
        end=row.end_at,
        replaces=row.replaces,
        id=row.id,
    )
    return StoredOverride(override, row.created_at, row.created_by, row.removed_at)


def _detail(row: ScheduleOverride, by: str) -> dict[str, object]:
    return {
        "override": row.id,
        "schedule": row.schedule,
        "covering": row.covering,
        "replaces": row.replaces,
        "start": row.start_at.isoformat(),
        "end": row.end_at.isoformat(),
        "by": by,
    }


def create_override(session: Session, override: Override, now: datetime, by: str) -> StoredOverride:
    """Store a checked override (see `checked_override`) and record it in the event log."""
    row = ScheduleOverride(
        schedule=override.schedule,
        covering=override.covering,
        replaces=override.replaces,
        start_at=override.start,
        end_at=override.end,
        created_at=now,
        created_by=by,
    )
    session.add(row)
    session.flush()
    record_event(session, CREATED, detail=_detail(row, by))
    return _stored(row)


def list_overrides(
    session: Session, now: datetime, schedule: str | None = None, *, include_past: bool = False
) -> list[StoredOverride]:
    """Overrides in force or to come, by start; with `include_past`, also those over and
    those removed."""
    query = select(ScheduleOverride).order_by(ScheduleOverride.start_at, ScheduleOverride.id)
    if schedule is not None:
        query = query.where(ScheduleOverride.schedule == schedule)
    if not include_past:
        query = query.where(ScheduleOverride.removed_at.is_(None), ScheduleOverride.end_at > now)
    return [_stored(row) for row in session.scalars(query)]


def remove_override(
    session: Session, override_id: int, now: datetime, by: str, schedule: str | None = None
) -> StoredOverride:
    """Take an override back (of `schedule`, when given); OverrideNotFound when there is no
    such override or it was removed already, so a removal is recorded once."""
    guard = [ScheduleOverride.id == override_id, ScheduleOverride.removed_at.is_(None)]
    if schedule is not None:
        guard.append(ScheduleOverride.schedule == schedule)
    changed = session.execute(update(ScheduleOverride).where(*guard).values(removed_at=now))
    if not changed.rowcount:
        raise OverrideNotFound(override_id)
    row = session.get(ScheduleOverride, override_id, populate_existing=True)
    if row is None:  # the update above found it in this very transaction
        raise OverrideNotFound(override_id)
    record_event(session, REMOVED, detail=_detail(row, by))
    return _stored(row)


def overrides_between(
    session: Session, lo: datetime, hi: datetime, schedule: str | None = None
) -> list[Override]:
    """The overrides (not removed) in force at some moment of [lo, hi), by start: what
    shared.schedules.resolve.next_handoffs needs around a moment."""
    return _not_removed(
        session, schedule, ScheduleOverride.start_at < hi, ScheduleOverride.end_at > lo
    )


def active_overrides(session: Session, at: datetime, schedule: str | None = None) -> list[Override]:
    """The overrides in force at `at`, for shared.schedules.resolve.on_call."""
    return _not_removed(
        session, schedule, ScheduleOverride.start_at <= at, ScheduleOverride.end_at > at
    )


def _not_removed(
    session: Session, schedule: str | None, *where: ColumnElement[bool]
) -> list[Override]:
    query = select(ScheduleOverride).where(ScheduleOverride.removed_at.is_(None), *where)
    if schedule is not None:
        query = query.where(ScheduleOverride.schedule == schedule)
    query = query.order_by(ScheduleOverride.start_at, ScheduleOverride.id)
    return [_stored(row).override for row in session.scalars(query)]


def oncall_view(session: Session, schedule: Schedule, at: datetime, count: int) -> dict[str, Any]:
    """Who is on call in `schedule` at `at` (UTC) and the next `count` hand-offs, the stored
    overrides applied: the CLI's --json and the API's answer. Times are in the schedule's
    zone, with their offset; `overrides` are the ids of those in force at `at`."""
    overrides = overrides_between(session, at - HORIZON, at + HORIZON, schedule.name)
    shifts = next_handoffs(schedule, at, count, overrides)
    zone = schedule.zone
    return {
        "schedule": schedule.name,
        "time_zone": schedule.time_zone,
        "at": at.astimezone(zone).isoformat(),
        "on_call": list(on_call(schedule, at, overrides)),
        "overrides": [o.id for o in overrides if o.start <= at < o.end],
        "next": [
            {"start": shift.start.astimezone(zone).isoformat(), "on_call": list(shift.contacts)}
            for shift in shifts[1 : 1 + count]
        ],
    }


def override_view(stored: StoredOverride) -> dict[str, Any]:
    """One override as listed by the CLI's --json and the API (times in UTC)."""
    override = stored.override
    removed = stored.removed_at.isoformat() if stored.removed_at is not None else None
    return {
        "id": override.id,
        "schedule": override.schedule,
        "covering": override.covering,
        "replaces": override.replaces,
        "start": override.start.isoformat(),
        "end": override.end.isoformat(),
        "created_at": stored.created_at.isoformat(),
        "created_by": stored.created_by,
        "removed_at": removed,
    }
