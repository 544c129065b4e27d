"""Refusing replayed Plivo callbacks: each signed request takes effect once.

A V3 signature proves Plivo sent the request, not that it is the first time we
see it: anyone who captured a signed "1A" or "STOP" could post the same bytes
again and, without this, have it acknowledge a newer alert or opt a number out
after START. Every signed request carries a fresh random nonce, so the nonce
is the request's identity: we keep the nonces we accepted in Redis and refuse
a request whose nonce we already hold.

How long: NONCE_TTL, 24 hours. Plivo retries a failed voice URL within 60 s
(one retry by default, then `fallback_url`) and may post an SMS report more
than once with no documented window; a day covers both with a wide margin,
and within it a captured request cannot be replayed at all. Beyond it the
handlers themselves stay harmless to a replay: an inbound MessageUUID is
applied once (kept in the database for good), delivery reports are
deduplicated, a keypress counts only on its own call, and a reply code is not
handed out again to the same person within CODE_REUSE_AFTER. The cost is one
small key per callback, a few per page.

Plivo's retries: PLIVO.md does not say a retry reuses the nonce (the
simulator, modelled on Plivo, signs every attempt afresh), so a repeated nonce
is treated as a replay and refused. Should a retry reuse it, it only follows
an attempt that failed: the receiver gives the nonce back when it answered
with a server error (see `release`), so that retry is processed normally, and
a retry of an attempt we did apply is refused without a second effect.

Only a request whose signature checked out claims its nonce: a forged request
must not be able to burn the nonce of a real one still on its way.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Final

import redis

NONCE_TTL: Final = timedelta(hours=24)
KEY_PREFIX: Final = "plivo:nonce:"


def nonce_key(nonce: str) -> str:
    """The Redis key for a nonce: hashed, so the key has a fixed length whatever was sent."""
    digest = hashlib.sha256(nonce.encode("utf-8")).hexdigest()
    return f"{KEY_PREFIX}{digest}"


def claim(client: redis.Redis, nonce: str, ttl: timedelta = NONCE_TTL) -> bool:
    """True for the first request with this nonce; False when it was seen before.

    One SET NX: two copies of a request arriving at once cannot both win.
    Raises redis.RedisError when Redis cannot answer: the caller must then
    refuse the request rather than accept one it cannot tell from a replay.
    """
    return bool(client.set(nonce_key(nonce), "1", nx=True, ex=int(ttl.total_seconds())))


def release(client: redis.Redis, nonce: str) -> None:
    """Forget a nonce whose request failed on our side, so Plivo's retry of it is not refused."""
    client.delete(nonce_key(nonce))
