"""The shape of a notice in the on-call file: words, audience, channels, window, reminders.

Each field is checked on its own here, with the names the file declares
(contacts, teams) passed in as validation context like the rest of the file;
checks that need several fields or the whole file at once are in checks.
A window's start is a wall time in its own time zone, as people plan
maintenance ("Sunday 02:00 in Paris"), and reminders are elapsed time
before or after it ("-24h" is 24 hours before, whatever the clocks do).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from shared.notices.maintenance_rule import MaintenanceRule
from shared.notices.recurrence import (
    RecurrenceError,
    check_cron,
    iter_wall_starts,
    never_fires,
    parse_rrule,
    to_instant,
)
from shared.notices.templates import TemplateError, check_template
from shared.routing.config_fields import DeclaredNames, Phone, Seconds, non_empty, unique


class NoticeChannel(StrEnum):
    SMS = "sms"
    VOICE = "voice"
    WHATSAPP = "whatsapp"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _local_time(value: Any) -> Any:
    """A wall time without offset: the zone is the window's `time_zone`, said once."""
    if isinstance(value, date) and not isinstance(value, datetime):
        raise ValueError("give a date and a time, like 2026-12-06 02:00")
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("give a local date and time, like 2026-12-06 02:00")
    return value


def _naive(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError("give the local time without an offset; the zone is `time_zone`")
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f'unknown time zone "{value}" (use an IANA name like Europe/Paris)'
        ) from None
    return value


def _template(value: str) -> str:
    try:
        return check_template(value)
    except TemplateError as exc:
        raise ValueError(str(exc)) from None


def _known_team(value: str, info: ValidationInfo) -> str:
    names = info.context if isinstance(info.context, DeclaredNames) else None
    if names is None or value in names.teams:
        return value
    if value in names.contacts:
        raise ValueError(f'"{value}" is a contact: list it under `contacts`')
    raise ValueError(f'unknown team "{value}"')


def _known_contact(value: str, info: ValidationInfo) -> str:
    names = info.context if isinstance(info.context, DeclaredNames) else None
    if names is None or value in names.contacts:
        return value
    if value in names.teams:
        raise ValueError(f'"{value}" is a team: list it under `teams`')
    raise ValueError(f'unknown contact "{value}"')


LocalTime = Annotated[datetime, BeforeValidator(_local_time), AfterValidator(_naive)]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
PositiveSeconds = Annotated[Seconds, Field(gt=0)]
TemplateText = Annotated[str, Field(min_length=1), AfterValidator(_template)]
NoticeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
Channels = Annotated[tuple[NoticeChannel, ...], AfterValidator(non_empty), AfterValidator(unique)]
# A PHLO's id, as the Plivo console shows it: a UUID.
PhloId = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]

_REMINDER = re.compile(r"(?P<anchor>start|end)?\s*(?:(?P<sign>[+-])\s*(?P<offset>\S+))?")
_OFFSET = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def compact_duration(seconds: int) -> str:
    """3600 -> "1h", 5400 -> "1h30m": one spelling, so "-60m" and "-1h" are one reminder."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return text or "0s"


class Reminder(_Model):
    """When a message goes out, relative to a window: `-24h`, `start`, `end`, `end+30m`.

    `key` is one spelling per moment, so a reminder keeps its identity (and
    what was already sent for it) when the file is reworded.
    """

    anchor: Literal["start", "end"]
    offset_s: int  # negative: before the anchor

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        match = _REMINDER.fullmatch(text)
        offset = _OFFSET.fullmatch(match["offset"]) if match and match["offset"] else None
        if not text or match is None or (match["sign"] and (offset is None or not offset[0])):
            raise ValueError(f'not a reminder: "{value}" (use -24h, -1h, -30m, start, end)')
        seconds = 0
        if offset is not None:
            hours, minutes, secs = (int(part or 0) for part in offset.groups())
            seconds = hours * 3600 + minutes * 60 + secs
        sign = -1 if match["sign"] == "-" else 1
        return {"anchor": match["anchor"] or "start", "offset_s": sign * seconds}

    @property
    def key(self) -> str:
        if self.offset_s == 0:
            return self.anchor
        sign = "-" if self.offset_s < 0 else "+"
        prefix = "" if self.anchor == "start" else self.anchor
        return f"{prefix}{sign}{compact_duration(abs(self.offset_s))}"

    def after_start(self, length: timedelta) -> timedelta:
        """How long after a window's start this reminder is due (negative: before)."""
        return timedelta(seconds=self.offset_s) + (length if self.anchor == "end" else timedelta())

    def due_at(self, start: datetime, end: datetime) -> datetime:
        return start + self.after_start(end - start)


class Window(_Model):
    """One maintenance window, or the first of a recurring series (cron or RRULE).

    For a cron expression `start` is the earliest a window may begin; for an
    RRULE it is the DTSTART. Wall times recur in `time_zone` (see recurrence).
    """

    start: LocalTime
    duration: PositiveSeconds
    time_zone: TimeZoneName
    cron: str | None = None
    rrule: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            text = check_cron(value)
        except RecurrenceError as exc:
            raise ValueError(str(exc)) from None
        first = info.data.get("start")
        reason = never_fires(text, None, first) if first is not None else None
        if reason:
            raise ValueError(reason)
        return text

    @field_validator("rrule")
    @classmethod
    def _rrule(cls, value: str | None, info: ValidationInfo) -> str | None:
        first = info.data.get("start")
        if value is None or first is None:
            return value
        try:
            parse_rrule(value, first)
            reason = never_fires(None, value, first)
        except RecurrenceError as exc:
            raise ValueError(str(exc)) from None
        if reason:
            raise ValueError(reason)
        return value.strip()

    @model_validator(mode="after")
    def _one_recurrence(self) -> Window:
        if self.cron is not None and self.rrule is not None:
            raise ValueError("give `cron` or `rrule`, not both")
        if self.recurring:
            self._no_overlap()
        return self

    def _no_overlap(self) -> None:
        """Windows of one series that overlap would tell people twice about one outage."""
        walls = iter_wall_starts(self.cron, self.rrule, self.start, self.start)
        first, second = next(walls, None), next(walls, None)
        if first is None or second is None:
            return
        gap = to_instant(second, self.zone) - to_instant(first, self.zone)
        if gap < self.length:
            raise ValueError(
                f"windows overlap: the next one starts {second:%Y-%m-%d %H:%M}, "
                f"before the one at {first:%Y-%m-%d %H:%M} ends"
            )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def length(self) -> timedelta:
        return timedelta(seconds=self.duration)

    @property
    def recurring(self) -> bool:
        return self.cron is not None or self.rrule is not None

    @property
    def kind(self) -> str:
        return "cron" if self.cron else "rrule" if self.rrule else "one-off"


class WhatsAppTemplate(_Model):
    """An approved WhatsApp template: Meta accepts only those, filled with variables."""

    template: Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=512)]
    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")] = "en"
    variables: tuple[TemplateText, ...] = ()


class Templates(_Model):
    sms: TemplateText | None = None
    voice: TemplateText | None = None
    whatsapp: WhatsAppTemplate | None = None

    def given(self) -> tuple[NoticeChannel, ...]:
        return tuple(c for c in NoticeChannel if getattr(self, c.value) is not None)


class Audience(_Model):
    """Contacts and teams of the on-call file, and subscriber lists (`subscriber_lists`)."""

    teams: Annotated[
        tuple[Annotated[str, AfterValidator(_known_team)], ...], AfterValidator(unique)
    ] = ()
    contacts: Annotated[
        tuple[Annotated[str, AfterValidator(_known_contact)], ...], AfterValidator(unique)
    ] = ()
    lists: Annotated[tuple[str, ...], AfterValidator(unique)] = ()

    @model_validator(mode="after")
    def _not_empty(self) -> Audience:
        if not (self.teams or self.contacts or self.lists):
            raise ValueError("the audience is empty: name teams, contacts or lists")
        return self


class Notice(_Model):
    """A planned maintenance and what to tell whom about it, and when."""

    name: NoticeName
    title: Annotated[str, Field(min_length=1)]
    impact: str | None = None
    link: str | None = None
    templates: Templates
    channels: Channels | None = None  # default: every channel with a template
    audience: Audience
    window: Window
    reminders: Annotated[tuple[Reminder, ...], AfterValidator(non_empty)]
    # Alerts matching it are held or downgraded while a window runs (shared.alerts.maintenance).
    maintenance: MaintenanceRule | None = None
    # Voice through a PHLO: each voice recipient is reached by running it (with `to`,
    # `from` and the notice's words as variables) instead of a call placed here.
    phlo_id: PhloId | None = None

    @property
    def sending_channels(self) -> tuple[NoticeChannel, ...]:
        return self.channels if self.channels is not None else self.templates.given()

    @property
    def ordered_reminders(self) -> tuple[Reminder, ...]:
        """Each moment once, earliest first."""
        by_key = {r.key: r for r in self.reminders}
        return tuple(sorted(by_key.values(), key=lambda r: r.after_start(self.window.length)))


class SubscriberList(_Model):
    """People outside the rota told about maintenance: numbers in the file, or a CSV
    (one number a line, or a `phone`/`number` column), read when the file is loaded."""

    name: str
    csv: str | None = None  # relative to the on-call file
    numbers: Annotated[tuple[Phone, ...], AfterValidator(unique)] = ()
