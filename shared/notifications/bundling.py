"""Several alerts for one person in one message: the words, most severe first.

Pure. Which notifications join a bundle is decided where they are claimed
(shared.notifications.bundle_claim.claim_bundle); this module only orders and words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from shared.alerts.schemas import Severity
from shared.notifications.sms_text import MAX_SMS_CHARS


class BundledAlert(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def severity(self) -> str: ...

    @property
    def summary(self) -> str: ...


def severity_rank(severity: str) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return len(Severity)


def most_severe_first(alerts: Sequence[BundledAlert]) -> list[BundledAlert]:
    """Worst first, then oldest first: the line a person reads first is the one that matters."""
    return sorted(alerts, key=lambda a: (severity_rank(a.severity), a.id))


def bundle_sms_text(
    alerts: Sequence[BundledAlert], reply_code: int, limit: int = MAX_SMS_CHARS
) -> str:
    """'3 alerts firing: [CRITICAL] db down (#5); ... Reply 7A to acknowledge all, 7E to ...'

    Lines are added while they fit in `limit` (two SMS units, less what the
    message must keep for a line after it); the rest are counted.
    """
    ordered = most_severe_first(alerts)
    tail = f" Reply {reply_code}A to acknowledge all, {reply_code}E to escalate all."
    head = f"{len(ordered)} alerts firing: "
    lines: list[str] = []
    for index, alert in enumerate(ordered):
        line = f"[{alert.severity.upper()}] {alert.summary} (#{alert.id})"
        rest = len(ordered) - index - 1
        more = f"; and {rest} more." if rest else "."
        candidate = "; ".join([*lines, line])
        if len(head) + len(candidate) + len(more) + len(tail) > limit:
            break
        lines.append(line)
    shown = len(lines)
    if shown == 0:
        lines.append(f"[{ordered[0].severity.upper()}] #{ordered[0].id}")
        shown = 1
    rest = len(ordered) - shown
    more = f"; and {rest} more." if rest else "."
    return head + "; ".join(lines) + more + tail
