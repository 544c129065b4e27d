"""Quiet hours: whether a page to a person waits until their night is over.

Pure: the moment is passed in. A `warning` or `info` alert planned for a
contact inside their quiet hours is due when those hours end; a `critical`
(or `error`) alert pages at once, and a contact with `quiet_hours_off` is
paged at any hour. The chain's own pace is not changed: the next step still
comes when the policy's wait runs out, so someone awake may take it.

Hours are local wall-clock times in the contact's zone, so "22:00 to 07:00"
stays 22:00 to 07:00 across DST changes (that night is an hour shorter or
longer); `to` before `from` runs past midnight into the next day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.alerts.schemas import Severity
from shared.routing.config_models import Contact, QuietHours

# Severities that may wait for morning; anything more severe wakes the person.
MAY_WAIT = frozenset({Severity.WARNING.value, Severity.INFO.value})


@dataclass(frozen=True, slots=True)
class Hold:
    """A page held back until `until` (UTC), the end of the contact's quiet hours."""

    until: datetime
    time_zone: str

    @property
    def local_until(self) -> str:
        """The end as the person wrote it: "07:00" on their own clock."""
        return f"{self.until.astimezone(ZoneInfo(self.time_zone)):%H:%M}"

    @property
    def text(self) -> str:
        return f"held for quiet hours until {self.local_until} {self.time_zone}"


def quiet_until(quiet: QuietHours, now: datetime) -> datetime | None:
    """The end (UTC) of the quiet period `now` falls in; None when `now` is outside.

    An end that falls in a DST gap (02:30 on the spring-forward night) is the
    moment the clock passes it; an ambiguous one (the fall-back night) is its
    first occurrence: a person is never held longer than their hours say.
    """
    zone = ZoneInfo(quiet.time_zone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    today = local.date()
    if quiet.start < quiet.end:
        inside, end_day = quiet.start <= clock < quiet.end, today
    elif clock >= quiet.start:
        inside, end_day = True, today + timedelta(days=1)
    else:
        inside, end_day = clock < quiet.end, today
    if not inside:
        return None
    until = datetime.combine(end_day, quiet.end, tzinfo=zone).astimezone(UTC)
    return until if until > now else None


def hold_for(contact: Contact, severity: str, now: datetime) -> Hold | None:
    """The hold on a page of `severity` to `contact` planned at `now`; None: page now."""
    quiet = contact.quiet_hours
    if contact.quiet_hours_off or quiet is None or severity not in MAY_WAIT:
        return None
    until = quiet_until(quiet, now)
    return Hold(until, quiet.time_zone) if until is not None else None
