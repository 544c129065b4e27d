"""Whether an inbound reply is about maintenance notices or about pages. Pure.

One number may get both from us: a person on the rota is paged and is told
about maintenance. A STOP sent back to a notice means "no more notices"; it
must not silence that person's pages (a hole in the rota nobody asked for),
so it opts out of notices only. A reply is taken to answer the last message
we sent to that number: a notice sent after the last page makes it a reply
to the notice. HELP and unknown texts get the notice's own instructions then.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Final

NOTICE_HELP_TEXT: Final = (
    "Maintenance notices. Reply STOP to get no more notices (on-call alerts still come), "
    "START to get them again."
)


class ReplyScope(StrEnum):
    PAGES = "pages"
    NOTICES = "notices"


def reply_scope(last_page_at: datetime | None, last_notice_at: datetime | None) -> ReplyScope:
    """What a reply answers, from when the number was last paged and last sent a notice."""
    if last_notice_at is None:
        return ReplyScope.PAGES
    if last_page_at is None or last_notice_at > last_page_at:
        return ReplyScope.NOTICES
    return ReplyScope.PAGES
