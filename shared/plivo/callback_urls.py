"""The callback URLs handed to Plivo, and reading them back.

Every callback of a page names its notification with `?n=<id>`, and a notice's
bulk SMS names its batch with `?nb=<batch id>` (one URL serves every number of a
bulk request; the batch and the number then find the delivery): built here and
parsed here, so the receiver and the worker agree on one spelling.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlencode

NOTIFICATION_PARAM = "n"
NOTICE_BATCH_PARAM = "nb"
# A batch id: uuid4 hex (shared.notices.deliveries.new_batch_id).
_BATCH_ID = re.compile(r"[0-9a-f]{32}")


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


def notice_callback_url(base: str, path: str, batch_id: str) -> str:
    """`{base}{path}?nb=<batch id>`: the status URL of one bulk request of a notice."""
    if not _BATCH_ID.fullmatch(batch_id):
        raise ValueError("a notice batch id is 32 lowercase hex digits")
    return f"{base.rstrip('/')}{path}?{urlencode({NOTICE_BATCH_PARAM: batch_id})}"


def notice_batch_from(args: Mapping[str, str]) -> str | None:
    """The notice batch a callback is about; None when `nb` is missing or malformed."""
    raw = args.get(NOTICE_BATCH_PARAM, "")
    return raw if _BATCH_ID.fullmatch(raw) else None
