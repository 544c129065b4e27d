"""An override of a schedule for a stretch of time, as the resolver applies it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Override:
    """`covering` is on call in `schedule` from `start` (inclusive) to `end` (exclusive).

    With `replaces`, only in place of that person, and only while the rotation
    has them on call ("Bob covers for Alice"); without it, instead of whoever
    the rotation has on call. Times are timezone-aware (UTC in the database).
    """

    schedule: str
    covering: str  # a contact name
    start: datetime
    end: datetime
    replaces: str | None = None
    id: int | None = None  # the database row, when it came from there
