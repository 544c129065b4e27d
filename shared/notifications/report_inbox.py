"""The report inbox: page delivery reports waiting in Redis for a worker to apply them.

The receiver answers Plivo once a verified report is in this list (one
RPUSH); a worker (worker.tasks.apply_delivery_reports) applies the head of the
list in batches, one database transaction per batch, and only then trims what
it applied. A worker that dies between its commit and its trim leaves those
entries to be applied again, which is harmless: each report is recorded once
(shared.notifications.delivery_reports.record_sms_reports) and a duplicate moves nothing.

One drainer at a time, by a short lock. The trim checks the lock in the same
script, so a drainer whose lock ran out (and whose entries a newer drainer
has read too) can never trim entries it did not read. The lock names its
holder's liveness token (worker.sending.liveness) when it has one, so a
drainer that died with its worker is replaced in seconds, not when its lock
lapses; a second drainer is harmless in any case (each report is recorded once).

Only Redis operations live here, with every key, so the receiver, the worker
and the tick agree on one spelling. What an entry holds is
shared.notifications.delivery_reports's business.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Final

import redis

from shared.plivo import replay

INBOX_KEY: Final = "plivo:sms-reports"
LOCK_KEY: Final = "plivo:sms-reports:drainer"
# Long enough for a batch on a slow SQLite disk. A dead drainer that named its
# liveness token is replaced sooner (worker.tasks.apply_delivery_reports.start_if_waiting);
# one that could not (Redis had not confirmed its token lately) holds the inbox this long.
LOCK_TTL_MS: Final = 30_000
BATCH_SIZE: Final = 500
# Between the holder's liveness token and the lock's own random part.
_HOLDER_END: Final = "/"

# Trim `count` entries off the head, and keep the lock, only while it is ours.
_TRIM_IF_HELD = """
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]))
return 1
"""
_RELEASE_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


# A push answers the inbox's length and whether a drainer holds it (see `Pushed`).
_PUSH = """
return {redis.call('RPUSH', KEYS[1], ARGV[1]), redis.call('EXISTS', KEYS[2])}
"""
# The receiver's claim of a report's nonce (KEYS[3]) and its push, as one script: one
# round trip to Redis per report instead of two, and never one without the other.
_PUSH_IF_FIRST = (
    """
if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', tonumber(ARGV[2])) then return 0 end"""
    + _PUSH
)


@dataclass(frozen=True)
class Pushed:
    """The inbox just after a push: its length, and whether a drainer held it then."""

    length: int
    drainer_running: bool

    @property
    def start_drainer(self) -> bool:
        """Whether the pusher must start a drainer: the inbox was empty and nobody reads it.

        A drainer holding the lock reads this entry, or, if it had already read
        the inbox for the last time, finds it with its look after letting go
        (the push came before that): so a report never waits for the tick, and a
        storm of reports starts one drainer, not one per time the inbox ran dry.
        """
        return self.length == 1 and not self.drainer_running


def _pushed(answer: list[int]) -> Pushed:
    return Pushed(length=int(answer[0]), drainer_running=bool(answer[1]))


def push_if_first(client: redis.Redis, nonce: str, entry: str) -> Pushed | None:
    """Claim the request's nonce (as shared.plivo.replay.claim does) and append its
    report, in one step; None when the nonce was seen before (nothing appended).
    Raises redis.RedisError (then it is unknown whether it ran: the caller answers
    5xx and gives the nonce back, and a report applied twice moves nothing)."""
    script = client.register_script(_PUSH_IF_FIRST)
    ttl_s = int(replay.NONCE_TTL.total_seconds())
    answer = script(keys=[INBOX_KEY, LOCK_KEY, replay.nonce_key(nonce)], args=[entry, ttl_s])
    return _pushed(answer) if answer else None


def push(client: redis.Redis, entry: str) -> Pushed:
    """Append one report. Raises redis.RedisError."""
    return _pushed(client.register_script(_PUSH)(keys=[INBOX_KEY, LOCK_KEY], args=[entry]))


def waiting(client: redis.Redis) -> int:
    """How many reports wait to be applied. Raises redis.RedisError."""
    return int(client.llen(INBOX_KEY))


def named_notifications(client: redis.Redis) -> set[int]:
    """Every notification an entry waiting in the inbox names: a send Plivo accepted
    or a report about it, not yet applied. Raises redis.RedisError."""
    named = set()
    for raw in client.lrange(INBOX_KEY, 0, -1):
        try:
            notification_id = json.loads(raw).get("notification_id")
        except (ValueError, AttributeError):
            continue  # the drainer reports a malformed entry; it names nothing here
        if isinstance(notification_id, int):
            named.add(notification_id)
    return named


def read_batch(client: redis.Redis, limit: int = BATCH_SIZE) -> list[bytes | str]:
    """The first `limit` reports, oldest first, left in the inbox until `trim`."""
    return list(client.lrange(INBOX_KEY, 0, limit - 1))


def acquire(
    client: redis.Redis, holder: str | None = None, ttl_ms: int = LOCK_TTL_MS
) -> str | None:
    """The drainer's lock: a token to trim and release with, or None when another holds it.
    `holder`: the process's liveness token, named in the lock (`holder_of`)."""
    token = uuid.uuid4().hex if holder is None else f"{holder}{_HOLDER_END}{uuid.uuid4().hex}"
    return token if client.set(LOCK_KEY, token, nx=True, px=ttl_ms) else None


def lock_token(client: redis.Redis) -> str | None:
    """The lock as its drainer holds it now; None when free. Raises redis.RedisError."""
    value = client.get(LOCK_KEY)
    return value.decode() if isinstance(value, bytes) else value


def holder_of(token: str) -> str | None:
    """The liveness token a lock names; None for a lock taken without one. Pure."""
    holder, found, _ = token.rpartition(_HOLDER_END)
    return holder if found and holder else None


def trim(client: redis.Redis, token: str, count: int, ttl_ms: int = LOCK_TTL_MS) -> bool:
    """Drop the `count` reports read and applied, renewing the lock; False if it was lost."""
    script = client.register_script(_TRIM_IF_HELD)
    return bool(script(keys=[INBOX_KEY, LOCK_KEY], args=[token, count, ttl_ms]))


def release(client: redis.Redis, token: str) -> None:
    """Let the next drainer in; a lock already taken over by another is left alone."""
    client.register_script(_RELEASE_IF_HELD)(keys=[LOCK_KEY], args=[token])
