"""Which messages a reply answers: the last one we sent that number, a page or a notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.replies.notice_scope import ReplyScope, reply_scope

T = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def test_a_reply_answers_whichever_message_went_last() -> None:
    assert reply_scope(None, None) is ReplyScope.PAGES  # a stranger, or never reached
    assert reply_scope(T, None) is ReplyScope.PAGES
    assert reply_scope(None, T) is ReplyScope.NOTICES  # a subscriber
    assert reply_scope(T, T + timedelta(seconds=1)) is ReplyScope.NOTICES
    assert reply_scope(T + timedelta(seconds=1), T) is ReplyScope.PAGES


def test_a_tie_counts_as_a_page_so_a_stop_then_stops_every_text() -> None:
    assert reply_scope(T, T) is ReplyScope.PAGES
