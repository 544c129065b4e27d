"""Plivo's limit/offset list pages, shared by the Message and Call lists."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from simulator.errors import ApiError

R = TypeVar("R")

MAX_LIMIT = 20  # Plivo's largest page


def _bounded_int(raw: str | None, name: str, default: int, low: int, high: int | None) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        upper = f" and {high}" if high is not None else ""
        raise ApiError(400, f"{name} must be an integer between {low}{upper}")
    return int(raw)


def list_page(
    records: Sequence[R],
    args: Mapping[str, str],
    root: str,
    describe: Callable[[R], dict[str, Any]],
) -> dict[str, Any]:
    """`records` (newest first) as the page `args` asks for, with Plivo's `meta` links."""
    limit = _bounded_int(args.get("limit"), "limit", MAX_LIMIT, 1, MAX_LIMIT)
    offset = _bounded_int(args.get("offset"), "offset", 0, 0, None)
    has_next = offset + limit < len(records)
    return {
        "meta": {
            "limit": limit,
            "next": f"{root}?limit={limit}&offset={offset + limit}" if has_next else None,
            "offset": offset,
            "previous": (
                f"{root}?limit={limit}&offset={max(0, offset - limit)}" if offset else None
            ),
            "total_count": len(records),
        },
        "objects": [describe(record) for record in records[offset : offset + limit]],
    }
