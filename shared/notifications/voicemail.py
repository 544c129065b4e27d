"""The words left on an answering machine: the alert in one sentence, then how to
acknowledge it by text.

Pure. A voicemail is played back later, perhaps half-awake, perhaps cut short
by the machine's own time limit: so the alert is one sentence, and the way to
act on it is the reply code the person's alert SMS gives too
(shared.replies.codes, "Reply 4A to acknowledge"), texted to the number the
call came from (calls and texts to one person leave from the same number,
shared.sending.limits.sender_for). Nothing to press: a recording cannot. The
code is said digit by digit, as the alert id is, so "1 2 A" is not heard as
"twelve".
"""

from __future__ import annotations

import re
from typing import Final

from shared.notifications.voice_xml import say_digits

# The summary's share of the message: the instruction after it must survive a
# machine that stops recording early.
VOICEMAIL_SUMMARY_MAX: Final = 120
_SERVICE_MAX: Final = 60
_SEVERITY_MAX: Final = 20
# A full stop, question or exclamation mark inside the summary would end the
# alert's sentence early: it becomes a comma.
_SENTENCE_END = re.compile(r"\s*[.!?;:]+(?:\s+|$)")


def voicemail_words(
    *,
    alert_id: int,
    severity: str,
    service: str,
    summary: str,
    reply_code: int | None,
    alert_count: int = 1,
) -> str:
    """What the machine records. For a bundle (`alert_count` > 1) the alert named is the
    most severe and the code acknowledges them all; `reply_code` None (no code could be
    given) points to the alert text instead."""
    level = _clip(severity, _SEVERITY_MAX).lower() or "new"
    place = _clip(service, _SERVICE_MAX)
    about = f"{level} alert on {place}" if place else f"{level} alert"
    what = _one_clause(summary)
    alert = ", ".join(part for part in (about, what, f"alert {say_digits(alert_id)}") if part)
    if alert_count > 1:
        alert = f"{alert_count} alerts are firing, the most severe {alert}"
    how = _how_to_acknowledge(reply_code, alert_count)
    return f"This is an on-call page: {alert}. {how} Goodbye."


def _how_to_acknowledge(reply_code: int | None, alert_count: int) -> str:
    them = "all of them" if alert_count > 1 else "it"
    if reply_code is None:
        return f"To acknowledge {them}, reply to our text message."
    return (
        f"To acknowledge {them}, text {say_digits(reply_code)} A to the number this call came from."
    )


def _one_clause(summary: str) -> str:
    """The summary as part of one sentence: shortened at a word, inner stops made commas."""
    text = _SENTENCE_END.sub(", ", _clip(summary, VOICEMAIL_SUMMARY_MAX))
    return text.strip(" ,.-")


def _clip(text: str, limit: int) -> str:
    """`text` on one line, cut at a word within `limit`."""
    clean = " ".join((text or "").split())
    if len(clean) <= limit:
        return clean
    cut = clean[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit // 2 else cut
