"""The first page of a step, claimed in the transaction that planned it.

A step's most urgent page is sent by the task that fired the step. Sent
after the step's commit, it took a read to load the page again, the claim's
own transaction and its commit: three round trips to the database before the
request, on SQLite each queued for the one write lock. Claimed in the
planning transaction instead, the request follows one commit.

Only the plain case is taken here: a page due now, to a number that has not
opted out, with no bundle window open for the person (nor a coalescing
window configured), and a rate-limit slot granted at once; the window is
opened and the slot booked in one round trip to Redis (`window_then_gate`).
Anything else takes the ordinary send path (`flow.run_send`) after the commit, which
decides again from the database, or is re-enqueued for the slot the gate
booked. Nothing is requested before the commit, so a transaction rolled back
sends nothing: its bundle window is released so a retry is not held by it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy.orm import Session

from shared.core.db import flush_at_commit
from worker import context
from worker.sending.come_back import come_back
from worker.sending.flow import (
    ChannelOps,
    Send,
    claim_in,
    deliver_and_record,
    load_send,
    run_send,
)
from worker.sending.gate import release_bundle_window, window_then_gate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FirstPage:
    """What the planning transaction decided for its first page; `after_commit` runs it."""

    notification_id: int
    after_commit: Callable[[], str]
    # Set when a bundle window was opened in the transaction: released if it rolls back.
    window: tuple[str, str] | None = None

    def rolled_back(self) -> None:
        if self.window is not None:
            release_bundle_window(*self.window)


def claim_first_page(
    session: Session,
    notification_id: int,
    ops: ChannelOps,
    events: list[dict[str, Any]],
) -> FirstPage:
    """Claim the page in the caller's (planning) transaction when it may go at once.

    The caller commits, then calls `after_commit`, which makes the request (or
    takes the ordinary path, or re-enqueues for a booked slot). `events`: where
    the claim's events go, for the caller to write with the step's.
    """
    ordinary = FirstPage(notification_id, lambda: run_send(notification_id, False, ops))
    send = _plain_send(session, notification_id, ops)
    if send is None:
        return ordinary
    try:
        gate, opened = window_then_gate(send.checks, ops.name, send.destination, notification_id)
    except redis.RedisError as exc:
        log.warning("notification %s: first page takes the send task: %s", notification_id, exc)
        return ordinary
    if gate.window_held:
        return ordinary
    window = (ops.name, send.destination) if opened else None
    if not gate.go:

        def later() -> str:
            come_back(send.url, notification_id, ops, gate.delay_s, slot_booked=gate.slot_booked)
            return "delayed"

        return FirstPage(notification_id, later, window)
    claimed = claim_in(session, send, events)
    if isinstance(claimed, str):
        return FirstPage(notification_id, lambda: claimed, window)
    flush_at_commit(session)  # the claim must be on disk before its request leaves
    return FirstPage(notification_id, lambda: deliver_and_record(send, claimed), window)


def _plain_send(session: Session, notification_id: int, ops: ChannelOps) -> Send | None:
    """The send, when the page is pending, due and allowed; None for anything else."""
    if context.settings().coalesce_window_s > 0:
        return None  # gathering first: the ordinary path's hold does it
    send = load_send(session, context.database_url(), notification_id, ops)
    if isinstance(send, str) or send.opted_out:
        return None  # the ordinary path decides again (an opted-out page is cancelled there)
    return send
