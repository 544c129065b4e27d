"""alert-dispatch's own account of a first page: the median time between the stages its
event log records, from the alert stored by the receiver to Plivo's answer.

accepted (the receiver stored the alert) -> planned (routed, its first step fired:
one task hop) -> sending (a sender claimed it: a second hop) -> queued (Plivo
answered and the answer was committed). Read after a load from the system's
database; the naive pager keeps no such log.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import datetime

from bench import databases, stats

STAGES = ("alert.accepted", "notification.planned", "notification.sending", "notification.queued")


def stage_medians(rows: Iterable[tuple[int, str, datetime | str]]) -> list[tuple[str, float]]:
    """Median seconds between consecutive STAGES over every alert that reached both,
    from (alert id, kind, at) rows; an alert's first event of each kind counts."""
    first: dict[int, dict[str, datetime]] = {}
    for alert_id, kind, at in rows:
        when = datetime.fromisoformat(at) if isinstance(at, str) else at
        first.setdefault(alert_id, {}).setdefault(kind, when)
    medians = []
    for start, end in zip(STAGES, STAGES[1:], strict=False):
        gaps = [
            (e[end] - e[start]).total_seconds() for e in first.values() if start in e and end in e
        ]
        if gaps:
            name = f"{start.split('.')[1]} -> {end.split('.')[1]}"
            medians.append((name, statistics.median(gaps)))
    return medians


def stages_text(database_url: str, first_alert_id: int = 1) -> str:
    """`accepted -> planned 27 ms, ...` over the alerts numbered `first_alert_id` and up."""
    kinds = ", ".join(f"'{k}'" for k in STAGES)
    rows = databases.rows(
        database_url,
        f"SELECT alert_id, kind, at FROM events WHERE kind IN ({kinds}) "
        f"AND alert_id >= {int(first_alert_id)} ORDER BY id",
    )
    stages = stage_medians((int(r[0]), str(r[1]), r[2]) for r in rows)
    return ", ".join(f"{name} {stats.duration(s)}" for name, s in stages) or "no events"
