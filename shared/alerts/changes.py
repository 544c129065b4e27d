"""Changes (deploys, configuration changes) shown with the alerts they may explain.

A page that says "deployed api v2.3 4 min ago" points the person woken up at
the likely cause before they open a laptop. Producers report changes through
PagerDuty's Change Events API (`webhooks/change_events.py`); nothing here pages.

Which changes an alert shows (`recent_changes`, pure, `now` passed in):

- the same scope: a change is shown only with alerts of the credential scope it
  was sent with (`Alert.integration`), as dedup keys are, so a token leaked from
  one integration cannot put words into another integration's pages;
- the same service: one of the change's names (its `source`, its
  `custom_details.service`) equals one of the alert's (its `service` label, its
  `source` label, its `source`), compared case-insensitively with runs of white
  space as one space;
- the right time: from `window` (CHANGE_WINDOW_S, 30 minutes) before the alert
  was created up to `now`, or up to its resolution for a resolved alert;
- newest first, at most `MAX_SHOWN` (3), each as its summary, shortened, and
  its age.

The functions at the bottom read and write the database; everything above them
is pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from shared.alerts.formats import clip
from shared.core.events import record_event
from shared.core.models import Alert, ChangeEvent

DEFAULT_WINDOW = timedelta(minutes=30)
MAX_SHOWN = 3
# A change's summary as shown with an alert: enough to recognise it, short
# enough that three of them and the alert still fit in an SMS.
SUMMARY_SHOWN = 60
# Candidates read per alert: the query already filters by scope, service and
# time, so this only bounds a flood of changes to one service.
_CANDIDATES = 50


class ChangeLike(Protocol):
    """What choosing and wording a change needs (a `ChangeEvent` row is one)."""

    @property
    def id(self) -> int: ...

    @property
    def scope(self) -> str: ...

    @property
    def summary(self) -> str: ...

    @property
    def source(self) -> str | None: ...

    @property
    def service(self) -> str | None: ...

    @property
    def changed_at(self) -> datetime: ...


C = TypeVar("C", bound=ChangeLike)


class AlertLike(Protocol):
    """What choosing the changes of an alert needs (an `Alert` row is one)."""

    @property
    def integration(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...

    @property
    def created_at(self) -> datetime: ...

    @property
    def resolved_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class ChangeIn:
    """A change as accepted from a producer, ready to store."""

    summary: str
    source: str | None
    service: str | None
    # When it happened: the producer's timestamp, never later than its arrival.
    changed_at: datetime
    details: dict[str, Any] = field(default_factory=dict)


def service_key(name: object) -> str | None:
    """A service name as compared: case folded, white space runs as one space; None if empty."""
    if not isinstance(name, str):
        return None
    folded = " ".join(name.split()).casefold()
    return folded or None


def alert_service_keys(alert: AlertLike) -> frozenset[str]:
    """The names an alert's service goes by: its `service` and `source` labels, its source."""
    labels = alert.labels or {}
    names = (labels.get("service"), labels.get("source"), alert.source)
    return frozenset(key for key in map(service_key, names) if key)


def change_service_keys(change: ChangeLike) -> frozenset[str]:
    """The names of the service a change touched: its `source` and `custom_details.service`."""
    return frozenset(key for key in map(service_key, (change.source, change.service)) if key)


def change_span(alert: AlertLike, now: datetime, window: timedelta) -> tuple[datetime, datetime]:
    """The times whose changes belong with an alert: from `window` before it began until
    `now`, or until it was resolved (a closed alert does not collect later deploys)."""
    end = now if alert.resolved_at is None else min(now, alert.resolved_at)
    return alert.created_at - window, end


def touches(change: ChangeLike, alert: AlertLike) -> bool:
    """Whether a change was made to the alert's service, within the alert's scope."""
    if change.scope != alert.integration:
        return False
    return not change_service_keys(change).isdisjoint(alert_service_keys(alert))


def recent_changes(
    alert: AlertLike,
    changes: Iterable[C],
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    limit: int = MAX_SHOWN,
) -> list[C]:
    """The changes to show with `alert`, newest first (see the module docstring)."""
    start, end = change_span(alert, now, window)
    chosen = [c for c in changes if start <= c.changed_at <= end and touches(c, alert)]
    chosen.sort(key=lambda c: (c.changed_at, c.id), reverse=True)
    return chosen[:limit]


def _amount(count: int, short: str, word: str, spoken: bool) -> str:
    if not spoken:
        return f"{count} {short}"
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def age_text(seconds: float, *, spoken: bool = False) -> str:
    """How long ago: "just now", "4 min ago", "1 h 5 min ago", "2 d ago".

    `spoken` spells the units out ("4 minutes ago"): a text-to-speech voice
    reads "min" as "minimum" or letter by letter. A time ahead of `now` (a
    clock elsewhere running fast) is "just now", never a negative age.
    """
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "just now"
    days, hours, rest = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        parts = [_amount(days, "d", "day", spoken)]
    elif hours:
        parts = [_amount(hours, "h", "hour", spoken)]
        if rest:
            parts.append(_amount(rest, "min", "minute", spoken))
    else:
        parts = [_amount(rest, "min", "minute", spoken)]
    return " ".join(parts) + " ago"


def change_note(change: ChangeLike, now: datetime, *, spoken: bool = False) -> str:
    """One change in a few words: "deployed api v2.3 4 min ago"."""
    summary = clip(" ".join(change.summary.split()), SUMMARY_SHOWN)
    age = age_text((now - change.changed_at).total_seconds(), spoken=spoken)
    return f"{summary} {age}"


def change_entry(change: ChangeEvent, now: datetime) -> dict[str, Any]:
    """One change as the alert view shows it."""
    return {
        "id": change.id,
        "summary": change.summary,
        "source": change.source,
        "service": change.service,
        "changed_at": change.changed_at.isoformat(),
        "links": (change.details or {}).get("links", []),
        "text": change_note(change, now),
    }


# --- database ----------------------------------------------------------------


def store_change(session: Session, change: ChangeIn, *, scope: str) -> int:
    """Store one change in the caller's transaction, with its entry in the event log."""
    row = ChangeEvent(
        scope=scope,
        summary=change.summary,
        source=change.source,
        service=change.service,
        source_key=service_key(change.source),
        service_key=service_key(change.service),
        details=change.details,
        changed_at=change.changed_at,
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        "change.accepted",
        detail={
            "change_id": row.id,
            "scope": scope,
            "source": change.source,
            "service": change.service,
            "summary": clip(change.summary, SUMMARY_SHOWN),
        },
    )
    return row.id


def changes_for_alert(
    session: Session, alert: Alert, *, now: datetime, window: timedelta = DEFAULT_WINDOW
) -> list[ChangeEvent]:
    """The changes to show with `alert`, newest first, at most `MAX_SHOWN`."""
    keys = sorted(alert_service_keys(alert))
    if not keys:
        return []
    start, end = change_span(alert, now, window)
    candidates = session.scalars(
        _CHANGES_NEAR,
        {"scope": alert.integration, "start": start, "end": end, "keys": keys},
    )
    return recent_changes(alert, candidates, now=now, window=window)


# Built once: read for every page with a service (shared.core.row_writes says why).
_CHANGES_NEAR = (
    select(ChangeEvent)
    .where(
        ChangeEvent.scope == bindparam("scope"),
        ChangeEvent.changed_at >= bindparam("start"),
        ChangeEvent.changed_at <= bindparam("end"),
        or_(
            ChangeEvent.source_key.in_(bindparam("keys", expanding=True)),
            ChangeEvent.service_key.in_(bindparam("keys", expanding=True)),
        ),
    )
    .order_by(ChangeEvent.changed_at.desc(), ChangeEvent.id.desc())
    .limit(_CANDIDATES)
)


def change_notes(
    session: Session,
    alert: Alert,
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    spoken: bool = False,
) -> Sequence[str]:
    """The words for an SMS (`spoken=False`) or a call (`spoken=True`):
    `["deployed api v2.3 4 min ago", ...]`, newest first; empty when nothing changed."""
    return [
        change_note(c, now, spoken=spoken)
        for c in changes_for_alert(session, alert, now=now, window=window)
    ]
