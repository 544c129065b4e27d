"""Which page goes first when sends queue up behind the rate limits.

The first page of a new critical alert goes before repeats, retries and
lower severities. Celery's Redis transport reads priority 0 as the highest
and keeps one sub-queue per step (0, 3, 6, 9).
"""

from __future__ import annotations

from shared.notifications.bundling import severity_rank

LOWEST = 9


def page_priority(severity: str, *, round: int = 0, attempt: int = 0) -> int:
    """0 for a critical alert's first page; later rounds, re-calls and lower severities after."""
    first_page = round == 0 and attempt == 0
    base = {0: 0, 1: 3}.get(severity_rank(severity), 6)
    return min(LOWEST, base + (0 if first_page else 3))
