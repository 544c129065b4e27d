"""A person's bundle window left open by a send that was never stored, taken over.

Why: a first page opens the person's bundle window in Redis inside its planning
transaction (worker.sending.first_page), before the commit, so that two sends
for one person cannot both go out. A process killed between the two (a worker,
or a receiver routing an alert itself) leaves a window that paged nobody and
holds every page to that person until it closes (BUNDLE_WINDOW_S, 60 s by
default): the alert, handed over again by the tick 10 s later, then waited the
rest of the minute. A window is taken over when it was opened ORPHAN_AFTER_S
ago or more (no planning transaction holds a window that long before its
commit) and no notification to that person by that channel carries its owner's
id (its transaction never committed).
"""

from __future__ import annotations

import logging

import redis
from sqlalchemy import select

from shared.core.db import read_scope
from shared.core.models import Notification
from shared.core.phone import mask
from shared.sending.rate_limiter import Guard
from worker import context

log = logging.getLogger(__name__)

ORPHAN_AFTER_S = 5.0

# KEYS: the window. ARGV: the owner found, the new owner, the window's length in ms.
# Compare-and-set: a window another send took over (or closed) meanwhile is left alone.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""


def may_be_orphaned(window_s: float, remaining_s: float) -> bool:
    """Pure: whether a window with `remaining_s` left of `window_s` is old enough that its
    owner, if it is not stored by now, never will be."""
    return window_s - remaining_s >= ORPHAN_AFTER_S


def take_over_if_orphaned(
    client: redis.Redis, guard: Guard, held_by: str, channel: str, destination: str
) -> bool:
    """Make `guard`'s send the owner of a window `held_by` a notification that was never
    stored; whether it did. Called only for a window found old enough (`may_be_orphaned`)."""
    if _owner_stored(held_by, channel, destination):
        return False
    if not client.eval(_TAKE_OVER, 1, guard.key, held_by, guard.owner, guard.ttl_ms):
        return False
    log.warning(
        "%s bundle window of %s was held by notification %s, which was never stored "
        "(its process died before committing): taken over by notification %s",
        channel,
        mask(destination),
        held_by,
        guard.owner,
    )
    return True


def _owner_stored(held_by: str, channel: str, destination: str) -> bool:
    """Whether the window's owner is a stored notification to this person by this channel
    (on SQLite an id of a transaction that never committed is given again, to anyone)."""
    try:
        owner_id = int(held_by)
    except ValueError:
        return True  # not a notification's id: not ours to judge
    with read_scope(context.database_url()) as session:
        found = session.scalar(
            select(Notification.id).where(
                Notification.id == owner_id,
                Notification.channel == channel,
                Notification.destination == destination,
            )
        )
    return found is not None
