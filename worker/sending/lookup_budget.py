"""Look-ups at Plivo take their turn under the account's API request limit.

Plivo allows 300 API requests per 5 s per account, sends and look-ups alike,
and answers 429 above it. A send whose outcome is unknown is settled by
paging back through the account's message or call list, one request a page.
When a worker dies holding hundreds of sends, or a timeout fault hits a
burst of them, those look-ups come all at once: seen in the chaos drill, they
went over the limit, sends were answered 429, and the penalty for a 429
halved the pace of every page behind them. Each page of a look-up now books a
slot in its own pace per account (PLIVO_LOOKUPS_PER_5S, shared with every
worker through Redis), so the rest of the limit stays with the sends.

A slot more than half a second away is not waited for in the task: the
look-up fails with `LookupBudgetSpent` (a PlivoError, which every caller
already answers by trying again later) and says when to come back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from shared.core.metrics import LOOKUPS_DEFERRED
from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoRateLimited
from worker import context

log = logging.getLogger(__name__)

# The longest a task sleeps for its look-up's slot (a sleeping task holds a child
# the sends need); beyond it, the task comes back later.
LONGEST_WAIT_S = 0.5

Lister = Callable[..., list[dict[str, Any]]]


class LookupBudgetSpent(PlivoRateLimited):
    """The account's look-ups are booked further ahead than a task should wait."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"look-ups at Plivo booked {retry_after_s:.1f} s ahead")
        self.retry_after_s = retry_after_s


def take_lookup_slot(client: PlivoClient) -> None:
    """Wait for the next look-up slot of `client`'s account, or raise LookupBudgetSpent.

    Without Redis the look-up goes ahead unpaced: settling a send must not
    wait on the limiter, and Plivo's own 429 still refuses an excess.
    """
    checks = context.send_limits().lookup_checks(client.auth_id)
    try:
        slot = context.limiter().reserve(checks, max_delay_s=LONGEST_WAIT_S)
    except redis.RedisError as exc:
        log.warning("look-up at Plivo not paced (Redis: %s)", exc)
        return
    if not slot.booked:
        LOOKUPS_DEFERRED.inc()
        raise LookupBudgetSpent(max(slot.delay_s, 0.1))
    if slot.delay_s > 0:
        time.sleep(slot.delay_s)


def paced(client: PlivoClient, lister: Lister) -> Lister:
    """`lister` (the client's list_messages or list_calls), each call after its slot."""

    def look_up(**params: Any) -> list[dict[str, Any]]:
        take_lookup_slot(client)
        return lister(**params)

    return look_up
