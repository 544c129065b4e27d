"""Settling a send whose outcome is unknown: did Plivo get it or not?

Pure. A request that timed out may have been acted on; resending blindly
would page twice, never resending would page nobody. Plivo's own record
decides: a message (or call) to the same number created after our attempt
began means it got through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.core.phone import plivo_format
from shared.notifications.state import NotificationState, state_for_sms_status


def parse_plivo_time(value: str | None) -> datetime | None:
    """'2017-05-22 21:36:14+05:30' (or with fractions of a second, or ' +0000') as aware UTC."""
    if not value:
        return None
    text = re.sub(r"\s+([+-]\d)", r"\1", value.strip())  # callbacks write " +0000"
    try:
        parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class Found:
    provider_uuid: str
    state: NotificationState


def find_sent(
    records: Iterable[Mapping[str, Any]],
    *,
    destination: str,
    since: datetime,
    uuid_field: str,
    time_field: str,
    taken: set[str],
) -> Found | None:
    """The oldest provider record to `destination` at or after `since` not already
    claimed by another notification (`taken`), as our state."""
    wanted = plivo_format(destination)
    matches = []
    for record in records:
        at = parse_plivo_time(record.get(time_field))
        uuid = record.get(uuid_field)
        if (
            at is not None
            and at >= since
            and uuid
            and uuid not in taken
            and str(record.get("to_number", "")).lstrip("+") == wanted
        ):
            matches.append((at, uuid, record))
    if not matches:
        return None
    _at, uuid, record = min(matches, key=lambda m: m[0])
    state = state_for_sms_status(str(record.get("message_state") or "")) or (
        NotificationState.QUEUED
    )
    return Found(provider_uuid=uuid, state=state)


def older_than(records: Iterable[Mapping[str, Any]], since: datetime, time_field: str) -> bool:
    """True when the page reaches back before `since`: no need to read further pages."""
    times = [parse_plivo_time(r.get(time_field)) for r in records]
    known = [t for t in times if t is not None]
    return bool(known) and min(known) < since
