"""SMS reply codes: how a person acknowledges or escalates one alert by texting back.

Each alert SMS carries a small number, unique among that person's open
alerts, so "4A" names one alert even when several are open at once. Numbers
are reused a day after their alert closes (CODE_REUSE_AFTER), which keeps
them short enough to type with one thumb. Carrier keywords (STOP, START,
HELP and their synonyms) are recognised too: a number that sent STOP must be
treated as opted out, since the carrier will block anything we send to it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

ReplyAction = Literal["ack", "escalate", "stop", "start", "help"]

_KEYWORDS: Final[dict[str, ReplyAction]] = {
    **dict.fromkeys(("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"), "stop"),
    **dict.fromkeys(("START", "UNSTOP", "YES"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
    **dict.fromkeys(("A", "ACK"), "ack"),
}
_CODED: Final[dict[str, ReplyAction]] = {"A": "ack", "E": "escalate"}
_CODED_REPLY = re.compile(r"(\d{1,6})\s*([AE])")
# Phones add these; they should not turn "4a." into an unknown reply.
_TRAILING = " \t\r\n.!?"

HELP_TEXT: Final = (
    "On-call alerts. Reply <code>A to acknowledge, <code>E to escalate. "
    "Reply STOP to opt out, START to opt back in."
)


@dataclass(frozen=True, slots=True)
class Reply:
    """What a reply asks for. `code` None on a bare "A": the sender's only open alert."""

    action: ReplyAction
    code: int | None = None


# A code retired less than this long ago is not handed to the same person again.
# A reply can come long after its page (a person answers an old thread, a
# carrier delivers late, a captured reply is posted again): if "1A" for an
# alert acknowledged this morning could mean the alert paged this afternoon,
# that late reply would silence a page nobody has read. A day is longer than
# anyone answers a page, and codes still stay short: they only grow with the
# number of alerts one person got in a day.
CODE_REUSE_AFTER: Final = timedelta(hours=24)


def allocate_code(avoid: Collection[int]) -> int:
    """The smallest positive code not in `avoid` (the person's open codes and recently
    retired ones, see `codes_to_avoid`): short codes are easier to type."""
    code = 1
    while code in avoid:
        code += 1
    return code


def codes_to_avoid(
    active: Iterable[int],
    retired: Iterable[tuple[int, datetime | None]],
    now: datetime,
    reuse_after: timedelta = CODE_REUSE_AFTER,
) -> set[int]:
    """The codes a person must not be given now: those in use, and those retired
    less than `reuse_after` before `now`. A retired code without a time was retired
    before times were kept, long enough ago to be free again."""
    recent = {
        code
        for code, retired_at in retired
        if retired_at is not None and now - retired_at < reuse_after
    }
    return set(active) | recent


def parse_reply(text: str) -> Reply | None:
    """The reply in an inbound SMS, or None when it is not one we understand.

    Only whole messages count: "please stop" is not an opt-out, and an
    unrecognised text must never be taken as an acknowledgement.
    """
    normalized = " ".join(text.split()).upper().rstrip(_TRAILING).lstrip()
    if normalized in _KEYWORDS:
        return Reply(_KEYWORDS[normalized])
    match = _CODED_REPLY.fullmatch(normalized)
    if match is None:
        return None
    code = int(match.group(1))
    return Reply(_CODED[match.group(2)], code) if code > 0 else None


def resolve_code(reply: Reply, open_codes: Collection[int]) -> int | None:
    """The open code a reply refers to; None when it names none or is ambiguous.

    A bare "A" is only safe with exactly one open alert: guessing between
    several could acknowledge the wrong one and silence a real page. This is
    the only place the rule lives: `code_store.alerts_for_code` reads the
    person's active codes and asks here.
    """
    if reply.code is None:
        return next(iter(open_codes)) if len(open_codes) == 1 else None
    return reply.code if reply.code in open_codes else None


def sms_instructions(code: int) -> str:
    """The line an alert SMS ends with."""
    if code < 1:
        raise ValueError(f"reply codes are positive, got {code}")
    return f"Reply {code}A to acknowledge, {code}E to escalate."
