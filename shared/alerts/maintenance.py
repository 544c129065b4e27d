"""Maintenance mode: what a running maintenance window does to an alert. Pure, `now` passed in.

A notice with a `maintenance:` rule (shared.notices.maintenance_rule) acts on
new alerts whose labels match while one of its windows runs, the way an
Alertmanager silence does, except that nothing is ever dropped:

- `hold`: the alert is stored and listed as held, and paged nobody; when the
  window ends (or is cut short: notice cancelled, window moved, rule changed)
  the tick releases it and, if it is still open, it is routed and paged then.
- `downgrade`: the alert pages at once, one severity lower (critical -> error ->
  warning -> info; info stays info), following the route for that severity.
  A critical alert is downgraded too, to `error`: it still pages at once, it is
  never held back by a downgrade. A rule that must leave critical alerts alone
  says so: `severity: ~(error|warning|info)`.

When several windows match, a hold wins over a downgrade, then the window
ending last, then the notice name: the same alert always gets the same answer.
Alerts already paging when a window starts are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.alerts.schemas import Severity
from shared.core.enums import AlertStatus
from shared.notices.maintenance_rule import MaintenanceAction, MaintenanceRule, MatchableAlert
from shared.notices.model import Notice
from shared.notices.schedule import next_occurrence

HOLD = MaintenanceAction.HOLD
DOWNGRADE = MaintenanceAction.DOWNGRADE


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """A notice's maintenance rule whose window runs now, and when that window ends."""

    notice: str
    rule: MaintenanceRule
    end: datetime
    time_zone: str

    @property
    def action(self) -> MaintenanceAction:
        return self.rule.action


def active_rules(notices: Mapping[str, Notice], now: datetime) -> list[ActiveRule]:
    """The rules of the notices (in force) whose window runs at `now`, in the order they
    win: holds first, then the window ending last, then by notice name."""
    found = []
    for name, notice in notices.items():
        if notice.maintenance is None:
            continue
        occurrence = next_occurrence(notice.window, now)
        if occurrence is None or occurrence.start > now:
            continue
        found.append(ActiveRule(name, notice.maintenance, occurrence.end, notice.window.time_zone))
    return sorted(found, key=lambda r: (r.action is not HOLD, -r.end.timestamp(), r.notice))


def verdict(alert: MatchableAlert, rules: Sequence[ActiveRule]) -> ActiveRule | None:
    """The rule that acts on the alert (`rules` as `active_rules` orders them); None: page it."""
    return next((rule for rule in rules if rule.rule.matches(alert)), None)


def still_held(alert: MatchableAlert, rules: Sequence[ActiveRule]) -> ActiveRule | None:
    """The hold that keeps a held alert back now; None once no running hold matches it."""
    found = verdict(alert, rules)
    return found if found is not None and found.action is HOLD else None


def lowered(severity: str) -> str:
    """One level less severe; `info` (and anything unknown) stays as it is."""
    try:
        level = Severity(severity)
    except ValueError:
        return severity
    order = list(Severity)
    return order[min(level.rank + 1, len(order) - 1)].value


def record(rule: ActiveRule, severity_as_sent: str) -> dict[str, Any]:
    """What is stored on the alert (`alerts.maintenance`): kept after a release, for people."""
    return {
        "notice": rule.notice,
        "action": rule.action.value,
        "until": rule.end.isoformat(),
        "time_zone": rule.time_zone,
        "severity_as_sent": severity_as_sent,
    }


def _moment(value: Any, zone_name: Any, now: datetime) -> str:
    """HH:MM (and the date when it is not today) in the window's time zone."""
    try:
        instant = datetime.fromisoformat(str(value))
        zone = ZoneInfo(str(zone_name))
    except (ValueError, KeyError):
        return "?"
    local = instant.astimezone(zone)
    shown = "%H:%M %Z" if local.date() == now.astimezone(zone).date() else "%Y-%m-%d %H:%M %Z"
    return local.strftime(shown)


def describe(
    maintenance: Mapping[str, Any] | None,
    held_until: datetime | None,
    status: str,
    now: datetime,
) -> str | None:
    """What maintenance did to an alert, in the listing's words; None when nothing."""
    if not maintenance:
        return None
    notice, zone = maintenance.get("notice"), maintenance.get("time_zone")
    if maintenance.get("action") == DOWNGRADE.value:
        return f"downgraded from {maintenance.get('severity_as_sent')} (maintenance {notice})"
    if held_until is not None and status == AlertStatus.TRIGGERED:
        return f"held (maintenance {notice} until {_moment(held_until.isoformat(), zone, now)})"
    released = maintenance.get("released_at")
    if released is not None:
        return f"was held (maintenance {notice}), paged {_moment(released, zone, now)}"
    return f"was held (maintenance {notice}), {status} while held"


def maintenance_view(
    maintenance: Mapping[str, Any] | None,
    held_until: datetime | None,
    status: str,
    now: datetime,
) -> dict[str, Any] | None:
    """What maintenance did to an alert, as the alerts API shows it; None when nothing."""
    text = describe(maintenance, held_until, status, now)
    if not maintenance or text is None:
        return None
    return {
        "notice": maintenance.get("notice"),
        "action": maintenance.get("action"),
        "held": held_until is not None and status == AlertStatus.TRIGGERED,
        "until": held_until.isoformat() if held_until is not None else maintenance.get("until"),
        "severity_as_sent": maintenance.get("severity_as_sent"),
        "released_at": maintenance.get("released_at"),
        "text": text,
    }
