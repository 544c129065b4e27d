"""Listing alerts: the one query behind `alert-dispatch alerts` and `GET /api/v1/alerts`.

The filter is read from query-string values by a pure function (`parse_filter`)
so that every refusal names the field at fault and the same rules hold for
every caller; the cursor is opaque to clients but is only the last id seen, so
a page boundary never skips or repeats an alert while new ones arrive.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.alerts.schemas import Severity
from shared.core.enums import AlertStatus
from shared.core.models import Alert, Event, Notification, utcnow
from shared.notifications.state import NotificationState

STATUSES = tuple(AlertStatus)
OPEN = (AlertStatus.TRIGGERED, AlertStatus.ACKNOWLEDGED)
SEVERITIES = tuple(severity.value for severity in Severity)  # most severe first
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_ID = 2147483647

# Stored text never holds NUL or lone surrogates (they become U+FFFD at the
# door), so a filter value is rewritten the same way to find what was stored.
_UNSTORABLE = {0: "\ufffd", **{point: "\ufffd" for point in range(0xD800, 0xE000)}}


class FilterError(ValueError):
    """A filter value that cannot be used: `field` names the query parameter."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts to list; every condition given must hold (labels: all of them)."""

    statuses: tuple[str, ...] = OPEN
    severities: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    before_id: int | None = None


@dataclass(frozen=True)
class Page:
    """Newest first; `next_cursor` is None on the last page."""

    alerts: list[Alert]
    notification_counts: dict[int, int] = field(default_factory=dict)
    next_cursor: str | None = None
    # Per alert, who quiet hours hold back, soonest first ("ann held for ... until 07:00 ...").
    quiet_holds: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class QuietHold:
    """A pending notification held by its person's quiet hours (event notification.quiet_hours)."""

    alert_id: int
    notification_id: int
    contact: str
    until: datetime
    text: str  # "held for quiet hours until 07:00 Europe/Berlin"

    @property
    def line(self) -> str:
        return f"{self.contact} {self.text}" if self.contact else self.text


def quiet_holds(session: Session, alert_ids: Sequence[int], now: datetime) -> list[QuietHold]:
    """The alerts' notifications still held by quiet hours at `now`, soonest first.

    Held means still pending and not yet due: once the quiet hours end the tick
    hands the page over, and it is shown as what it then is.
    """
    if not alert_ids:
        return []
    rows = session.execute(
        select(Event.alert_id, Event.notification_id, Event.detail, Notification.due_at)
        .join(Notification, Notification.id == Event.notification_id)
        .where(
            Event.kind == "notification.quiet_hours",
            Event.alert_id.in_(alert_ids),
            Notification.state == NotificationState.PENDING.value,
            Notification.due_at > now,
        )
        .order_by(Notification.due_at, Event.notification_id)
    ).all()
    return [
        QuietHold(alert_id, notification_id, str(detail.get("contact") or ""), due, detail["text"])
        for alert_id, notification_id, detail, due in rows
    ]


def encode_cursor(last_id: int) -> str:
    """The cursor after `last_id`: URL-safe base64 of the id, without padding."""
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id a cursor from `encode_cursor` holds; FilterError for anything else."""
    refused = FilterError("cursor", "not a cursor this API gave out")
    if not cursor or len(cursor) > 16 or not cursor.isascii():
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise refused from None
    text = raw.decode("ascii", errors="replace")
    if not text.isdigit() or not text.isascii() or encode_cursor(int(text)) != cursor:
        raise refused
    last_id = int(text)
    if not 1 <= last_id <= MAX_ID:
        raise refused
    return last_id


def _split(values: Sequence[str]) -> list[str]:
    """Comma-separated and repeated parameters alike: `a,b` and `a&b`."""
    return [part.strip() for value in values for part in value.split(",")]


def _choices(name: str, values: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    chosen = _split(values)
    for value in chosen:
        if value not in allowed:
            raise FilterError(name, f"{value!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(chosen))


def _storable(value: str) -> str:
    return value.translate(_UNSTORABLE)


def _label(value: str) -> tuple[str, str]:
    key, equals, wanted = value.partition("=")
    if not equals or not key:
        raise FilterError("label", f"{value!r} is not name=value")
    if '"' in key:
        raise FilterError("label", "a label name cannot hold a double quote")
    return _storable(key), _storable(wanted)


def _moment(name: str, value: str) -> datetime:
    """An ISO 8601 date and time; one without an offset is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip().upper())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise FilterError(name, f"{value!r} is not an ISO 8601 date and time") from None


def _limit(values: Sequence[str]) -> int:
    if not values:
        return DEFAULT_LIMIT
    text = values[-1].strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise FilterError("limit", f"must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def parse_filter(args: Mapping[str, Sequence[str]]) -> AlertFilter:
    """The filter a query string asks for; FilterError naming the first bad parameter.

    `args` maps each parameter to all its values, as sent. Without `status`
    only open alerts (triggered, acknowledged) are listed: what needs a person.
    """
    statuses = _choices("status", args["status"], STATUSES) if "status" in args else OPEN
    if not statuses:
        raise FilterError("status", f"name at least one of {', '.join(STATUSES)}")
    severities = _choices("severity", args.get("severity", []), SEVERITIES)
    sources = tuple(_storable(value) for value in args.get("source", []))
    labels = tuple(_label(value) for value in args.get("label", []))
    since = _moment("since", args["since"][-1]) if args.get("since") else None
    until = _moment("until", args["until"][-1]) if args.get("until") else None
    cursor = args.get("cursor")
    before_id = decode_cursor(cursor[-1]) if cursor else None
    return AlertFilter(
        statuses=statuses,
        severities=severities,
        sources=sources,
        labels=labels,
        since=since,
        until=until,
        limit=_limit(args.get("limit", [])),
        before_id=before_id,
    )


def list_alerts(session: Session, wanted: AlertFilter, now: datetime | None = None) -> Page:
    """One page of alerts, newest (highest id) first, with their notification counts
    and the pages quiet hours hold back as of `now`."""
    query = select(Alert).where(Alert.status.in_(wanted.statuses))
    if wanted.severities:
        query = query.where(Alert.severity.in_(wanted.severities))
    if wanted.sources:
        query = query.where(Alert.source.in_(wanted.sources))
    for key, value in wanted.labels:
        query = query.where(Alert.labels[key].as_string() == value)
    if wanted.since is not None:
        query = query.where(Alert.created_at >= wanted.since)
    if wanted.until is not None:
        query = query.where(Alert.created_at <= wanted.until)
    if wanted.before_id is not None:
        query = query.where(Alert.id < wanted.before_id)
    rows = list(session.scalars(query.order_by(Alert.id.desc()).limit(wanted.limit + 1)))
    alerts = rows[: wanted.limit]
    more = len(rows) > wanted.limit
    counts: dict[int, int] = {}
    held: dict[int, list[str]] = {}
    for hold in quiet_holds(session, [a.id for a in alerts], now or utcnow()):
        lines = held.setdefault(hold.alert_id, [])
        if hold.line not in lines:  # a person's text and call are held alike: one line
            lines.append(hold.line)
    if alerts:
        counts = {
            alert_id: count
            for alert_id, count in session.execute(
                select(Notification.alert_id, func.count())
                .where(Notification.alert_id.in_([a.id for a in alerts]))
                .group_by(Notification.alert_id)
            ).all()
        }
    return Page(alerts, counts, encode_cursor(alerts[-1].id) if more else None, held)
