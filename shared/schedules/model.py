"""The `schedules:` section of the on-call file: rotations in layers, on a local clock.

```yaml
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:                      # later layers win where they cover a moment
      - name: weekly
        rotation: {members: [ann, bob], shift: 1w, handoff: "09:00", start: 2026-11-30}
      - name: business-hours
        rotation: {members: [dan, eve], shift: 1d, handoff: "09:00", start: 2026-11-30}
        restrict:
          - {days: [mon, tue, wed, thu, fri], from: "09:00", to: "17:00"}
```

Times are wall-clock times in the schedule's zone, so a hand-off at 09:00
stays at 09:00 across DST changes. Members are checked against the contacts
the file declares when validation is given them as context (the routing
layer's declared names), so this package needs nothing from it.
"""

from __future__ import annotations

import re
from datetime import date, time
from enum import StrEnum
from typing import Annotated, Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
)

from shared.routing.config_fields import Seconds  # a leaf module: durations as the file writes them

MINUTES_PER_DAY = 24 * 60


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@runtime_checkable
class DeclaredContacts(Protocol):
    """What member checks read from the validation context (routing's DeclaredNames)."""

    contacts: frozenset[str]
    teams: frozenset[str]


class Weekday(StrEnum):
    """Days as `date.weekday()` counts them: Monday is 0."""

    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def number(self) -> int:
        return list(Weekday).index(self)


_FULL_DAY_NAMES = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}


def _weekday(value: Any) -> Any:
    """`Monday`, `monday` and `mon` all name Monday."""
    if not isinstance(value, str):
        return value
    text = value.strip().lower()
    return _FULL_DAY_NAMES.get(text, text)


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def _clock_minutes(value: Any, latest: int) -> Any:
    """Minutes after midnight of an "HH:MM" text (or a `time`), at most `latest`.

    Integers are refused with advice: YAML reads an unquoted 17:00 as the
    number 1020 (base 60), which would otherwise pass for 17 hours.
    """
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    if isinstance(value, bool | int | float):
        raise ValueError('write the time in quotes, like "17:00" (YAML reads 17:00 as a number)')
    if not isinstance(value, str):
        return value
    match = _CLOCK.fullmatch(value.strip())
    if match is None or int(match[2]) > 59 or int(match[1]) * 60 + int(match[2]) > latest:
        end = "24:00" if latest == MINUTES_PER_DAY else "23:59"
        raise ValueError(f'not a time of day: "{value}" (use HH:MM from 00:00 to {end})')
    return int(match[1]) * 60 + int(match[2])


def _time_of_day(value: Any) -> Any:
    minutes = _clock_minutes(value, MINUTES_PER_DAY - 1)
    return time(minutes // 60, minutes % 60) if isinstance(minutes, int) else minutes


_SHIFT = re.compile(r"(\d+)\s*([hdw])")


def _shift(value: Any) -> str:
    """`12h` (elapsed hours), `1d` or `2w` (calendar days of the schedule's zone)."""
    match = _SHIFT.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if match is None or int(match[1]) == 0:
        raise ValueError(f'not a shift length: "{value}" (use hours, days or weeks: 12h, 1d, 1w)')
    return f"{int(match[1])}{match[2]}"


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone "{value}" (use an IANA name like Europe/Berlin)'
        ) from None
    return value


def _known_contact(value: str, info: ValidationInfo) -> str:
    """A rotation pages people: a team or a schedule here would be a person nobody is."""
    names = info.context
    if not isinstance(names, DeclaredContacts) or value in names.contacts:
        return value
    if value in names.teams:
        raise ValueError(f'"{value}" is a team: a rotation lists contacts')
    raise ValueError(f'unknown contact "{value}"')


def _some_members(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        raise ValueError("a rotation needs at least one member")
    return values


def _some_layers(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if not values:
        raise ValueError("a schedule needs at least one layer")
    return values


def _clock_text(minutes: int) -> str:
    """Minutes after midnight as the file writes them, so a dumped schedule reads back."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


_AS_CLOCK = PlainSerializer(_clock_text, return_type=str, when_used="json")
TimeOfDay = Annotated[
    time,
    BeforeValidator(_time_of_day),
    PlainSerializer(
        lambda t: _clock_text(t.hour * 60 + t.minute), return_type=str, when_used="json"
    ),
]
DayMinute = Annotated[
    int, BeforeValidator(lambda v: _clock_minutes(v, MINUTES_PER_DAY - 1)), _AS_CLOCK
]
DayEnd = Annotated[int, BeforeValidator(lambda v: _clock_minutes(v, MINUTES_PER_DAY)), _AS_CLOCK]
ShiftLength = Annotated[str, BeforeValidator(_shift)]
Member = Annotated[str, AfterValidator(_known_contact)]
Day = Annotated[Weekday, BeforeValidator(_weekday)]


class Rotation(_Model):
    """Members take turns in order, one shift each, from `handoff` on `start` (local)."""

    # Order is rotation order; a name may appear twice to take two turns per cycle.
    members: Annotated[tuple[Member, ...], AfterValidator(_some_members)]
    shift: ShiftLength
    handoff: TimeOfDay
    start: date

    @property
    def shift_hours(self) -> int:
        """Elapsed hours of an hour shift (DST changes do not stretch it); 0 otherwise."""
        return int(self.shift[:-1]) if self.shift.endswith("h") else 0

    @property
    def shift_days(self) -> int:
        """Calendar days of a day or week shift (23 or 25 hours across DST); 0 otherwise."""
        count = int(self.shift[:-1])
        return {"d": count, "w": 7 * count}.get(self.shift[-1], 0)


class Window(_Model):
    """Local wall-clock hours on some weekdays.

    `to` before `from` runs past midnight into the next day, so `days` name
    the day a window begins (`{days: [fri], from: "22:00", to: "06:00"}` is
    Friday night). `to` equal to `from` covers nothing; a whole day is
    "00:00" to "24:00".
    """

    days: Annotated[tuple[Day, ...], AfterValidator(lambda v: tuple(dict.fromkeys(v)))] = tuple(
        Weekday
    )
    start: DayMinute = Field(alias="from")
    end: DayEnd = Field(alias="to")

    @property
    def empty(self) -> bool:
        return not self.days or self.start == self.end

    @property
    def wraps(self) -> bool:
        return self.end < self.start

    def covers(self, weekday: int, minute: int) -> bool:
        """Whether the local moment `minute` after midnight of `weekday` is inside."""
        numbers = {day.number for day in self.days}
        if self.empty:
            return False
        if not self.wraps:
            return weekday in numbers and self.start <= minute < self.end
        if weekday in numbers and minute >= self.start:
            return True
        return (weekday - 1) % 7 in numbers and minute < self.end


class Layer(_Model):
    name: str
    rotation: Rotation
    restrict: tuple[Window, ...] | None = None  # absent: the layer always covers

    def covers(self, weekday: int, minute: int) -> bool:
        if self.restrict is None:
            return True
        return any(window.covers(weekday, minute) for window in self.restrict)


def _lead_time(seconds: int) -> int:
    """Notices are looked for every 30 s: a shorter lead could fall between two looks."""
    if seconds < MIN_NOTICE_LEAD_S:
        raise ValueError("give at least 1m, like 30m or 1h (notices are checked every 30 s)")
    return seconds


MIN_NOTICE_LEAD_S = 60


class HandoffNotice(_Model):
    """`handoff_notice: {before: 30m}`: an SMS to whoever comes on call, that long before."""

    before: Annotated[Seconds, AfterValidator(_lead_time)]


class Schedule(_Model):
    """Who is on call, layer over layer: where layers overlap the later one wins."""

    name: str
    time_zone: Annotated[str, AfterValidator(_zone)]
    layers: Annotated[tuple[Layer, ...], AfterValidator(_some_layers)]
    handoff_notice: HandoffNotice | None = None  # absent: no notices

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def members(self) -> tuple[str, ...]:
        """Everyone some layer may put on call, each once, in the order of the file."""
        return tuple(
            dict.fromkeys(name for layer in self.layers for name in layer.rotation.members)
        )
