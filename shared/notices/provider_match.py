"""Which numbers of an abandoned batch Plivo has: settling a claim before anything resends.

Pure. A batch claimed by a worker that died (or whose answer never came)
may or may not have reached Plivo. Plivo's list of outbound messages, newest
first, decides: a message to one of the batch's numbers created at or after
the claim (less a clock margin), whose uuid no page or notice owns yet, is
that number's message. A search that could not reach back to the claim is
inconclusive, and nothing is resent on a guess.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.core.phone import plivo_format
from shared.sending.reconcile import older_than, parse_plivo_time

# Plivo's clock and ours may disagree a little (and it writes whole seconds).
CLOCK_MARGIN = timedelta(seconds=10)
UUID_FIELD = "message_uuid"
TIME_FIELD = "message_time"


def match_numbers(
    records: Iterable[Mapping[str, Any]],
    *,
    numbers: Collection[str],
    since: datetime,
    taken: Collection[str],
) -> dict[str, str]:
    """number (E.164) -> uuid of its oldest message at or after `since` not owned already."""
    by_plivo_form = {plivo_format(n): n for n in numbers}
    found: dict[str, tuple[datetime, str]] = {}
    for record in records:
        at = parse_plivo_time(record.get(TIME_FIELD))
        uuid = record.get(UUID_FIELD)
        number = by_plivo_form.get(str(record.get("to_number", "")).lstrip("+"))
        if at is None or at < since or not uuid or uuid in taken or number is None:
            continue
        if number not in found or at < found[number][0]:
            found[number] = (at, str(uuid))
    return {number: uuid for number, (_at, uuid) in found.items()}


def reached_back(records: list[Mapping[str, Any]], page_size: int, since: datetime) -> bool:
    """True when this page is the last one, or already older than `since`."""
    return len(records) < page_size or older_than(records, since, TIME_FIELD)


def search_since(claimed_at: datetime) -> datetime:
    return claimed_at - CLOCK_MARGIN
