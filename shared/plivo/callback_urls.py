"""The callback URLs handed to Plivo, and reading them back.

Every callback names its notification with `?n=<id>`: built here and parsed
here, so the receiver and the worker agree on one spelling.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

NOTIFICATION_PARAM = "n"


def callback_url(base: str, path: str, notification_id: int, **extra: str | int) -> str:
    """`{base}{path}?n=<id>[&extra...]`; `base` has no trailing slash, `path` starts with one."""
    query = urlencode({NOTIFICATION_PARAM: notification_id, **extra})
    return f"{base.rstrip('/')}{path}?{query}"


def notification_id_from(args: Mapping[str, str]) -> int | None:
    """The notification a callback is about; None when `n` is missing or not a positive id."""
    raw = args.get(NOTIFICATION_PARAM, "")
    if not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if 0 < value < 2**63 else None
