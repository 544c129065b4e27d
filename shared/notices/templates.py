"""A notice's words: the placeholders its templates may use, and their rendering.

Times are written in the window's own time zone with its abbreviation
("Sun 7 Dec 02:00 CET"), since the people told are where the maintenance
is; the names of days and months are fixed English, not the server's locale.
A template is refused for a placeholder that does not exist, naming it, so
a typo is found at `config check`, not as "{strat}" in ten thousand SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from string import Formatter
from zoneinfo import ZoneInfo

PLACEHOLDERS = ("title", "start", "end", "duration", "impact", "link")
# Placeholders whose value a notice may leave out.
OPTIONAL = ("impact", "link")

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TemplateError(ValueError):
    """A template that cannot be rendered; the message names what is wrong."""


def placeholders_in(template: str) -> list[str]:
    """The placeholders a template uses, in order, each once; TemplateError when one is
    unknown, carries a format (`{start:%H}`), or a brace is unbalanced."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"{exc} (write {{{{ and }}}} for literal braces)") from None
    found: list[str] = []
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            known = " ".join(f"{{{name}}}" for name in PLACEHOLDERS)
            raise TemplateError(f'unknown placeholder "{{{field}}}" (known: {known})')
        if spec or conversion:
            raise TemplateError(f'placeholder "{{{field}}}" takes no format or conversion')
        if field not in found:
            found.append(field)
    return found


def check_template(template: str) -> str:
    """The template, if every placeholder in it exists (for use as a validator)."""
    placeholders_in(template)
    return template


def format_instant(instant: datetime, zone: ZoneInfo) -> str:
    """`Sun 7 Dec 02:00 CET`: the wall time and abbreviation in `zone`."""
    local = instant.astimezone(zone)
    day, month = _DAYS[local.weekday()], _MONTHS[local.month - 1]
    return f"{day} {local.day} {month} {local:%H:%M} {local.tzname()}"


def format_duration(length: timedelta) -> str:
    """`2 hours 30 minutes`: read aloud by a call as well as texted."""
    seconds = int(length.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        f"{count} {unit}{'' if count == 1 else 's'}"
        for count, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
        if count
    ]
    return " ".join(parts) if parts else f"{seconds} seconds"


@dataclass(frozen=True, slots=True)
class WindowText:
    """What a notice's placeholders stand for in one window."""

    title: str
    start: datetime
    end: datetime
    zone: ZoneInfo
    impact: str | None = None
    link: str | None = None

    def values(self) -> dict[str, str]:
        return {
            "title": self.title,
            "start": format_instant(self.start, self.zone),
            "end": format_instant(self.end, self.zone),
            "duration": format_duration(self.end - self.start),
            "impact": self.impact or "",
            "link": self.link or "",
        }


def missing_values(template: str, values: Mapping[str, str | None]) -> list[str]:
    """Optional placeholders a template uses that the notice leaves empty."""
    return [name for name in placeholders_in(template) if name in OPTIONAL and not values.get(name)]


def render(template: str, window: WindowText) -> str:
    """The template with every placeholder replaced; TemplateError names an unknown one."""
    placeholders_in(template)
    return template.format_map(window.values())
