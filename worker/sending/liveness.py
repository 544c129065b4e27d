"""Which sending workers are alive, so a send whose worker died is sent again in
seconds rather than after the longest request the Plivo client allows.

Every worker process that claims a send keeps a key in Redis, `sending:alive:<token>`,
renewed every RENEW_S by a daemon thread and lapsing ALIVE_TTL_S after the last
renewal. The claim writes the token on the notification (`claimed_by`), and the
hand-over of sends (every second) moves a "sending" row whose claimer's key has
lapsed to "unknown" at once (worker.tasks.hand_over_sends), where it is looked up
at Plivo and sent again if Plivo never took it. The drainer of the report inbox
names the same token in its lock, and a lapsed one frees the inbox for a new
drainer (worker.tasks.apply_delivery_reports.start_if_waiting).

A false "dead" would send a page twice, so a token is only handed out while its
key is known to be fresh (renewed less than FRESH_S ago, with ALIVE_TTL_S - FRESH_S
to spare); otherwise the claim carries no token and the long window of
worker.sending.handover is the only test, as before. A hand-over that cannot read
Redis declares no claimer dead, for the same reason. Nor does one soon after Redis
lost its keys (restarted empty, failed over to a replica behind): every live
process's key is gone at once then. The first renewal into an empty Redis sets
EPOCH_KEY to its time, and claimers are judged only once that is SETTLED_S old,
by when every live process has renewed several times.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis

from shared.core.host_presence import short_host

log = logging.getLogger(__name__)

KEY_PREFIX = "sending:alive:"
RENEW_S = 1.0
ALIVE_TTL_S = 5.0
# A token goes on a claim only if its key was renewed this recently: the key
# then outlives the claim's commit by seconds even if renewals stop right after.
FRESH_S = 2.0
EPOCH_KEY = f"{KEY_PREFIX}epoch"
# Since the first renewal into this Redis: long enough for every live process to renew.
SETTLED_S = ALIVE_TTL_S + RENEW_S


def alive_key(token: str) -> str:
    return f"{KEY_PREFIX}{token}"


@dataclass
class _Heartbeat:
    """One process's key, renewed by a daemon thread (`run`)."""

    token: str
    client_for: Callable[[], redis.Redis]
    renewed_at: float = 0.0  # time.monotonic() of the last renewal Redis confirmed

    def renew(self) -> bool:
        started = time.monotonic()
        try:
            pipeline = self.client_for().pipeline(transaction=False)
            pipeline.set(alive_key(self.token), "1", px=int(ALIVE_TTL_S * 1000))
            pipeline.set(EPOCH_KEY, f"{time.time():.3f}", nx=True)
            pipeline.execute()
        except (redis.RedisError, OSError) as exc:
            log.debug("sending liveness: key not renewed: %s", exc)
            return False
        # Counted from before the call: the key's life started no earlier than that.
        self.renewed_at = started
        return True

    def run(self) -> None:
        while True:
            time.sleep(RENEW_S)
            self.renew()


_heartbeats: dict[int, _Heartbeat] = {}
_start_lock = threading.Lock()


def claimer_token(client_for: Callable[[], redis.Redis]) -> str | None:
    """This process's token for a claim it is about to commit, its key fresh; None
    when Redis did not confirm a renewal lately (see the module's docstring)."""
    beat = _heartbeats.get(os.getpid()) or _start(client_for)
    beat.client_for = client_for
    if time.monotonic() - beat.renewed_at >= FRESH_S and not beat.renew():
        return None
    return beat.token


def _start(client_for: Callable[[], redis.Redis]) -> _Heartbeat:
    """This process's heartbeat and its thread, made once. Keyed by process id: a
    prefork child does not inherit its parent's thread."""
    with _start_lock:
        beat = _heartbeats.get(os.getpid())
        if beat is None:
            token = f"{short_host(socket.gethostname())}:{os.getpid()}:{secrets.token_hex(4)}"
            beat = _heartbeats[os.getpid()] = _Heartbeat(token, client_for)
            threading.Thread(target=beat.run, name="sending-liveness", daemon=True).start()
        return beat


def dead_claimers(client: redis.Redis, tokens: Iterable[str], now: float) -> set[str]:
    """The tokens whose key has lapsed: their process stopped renewing it ALIVE_TTL_S
    ago or more. Empty when Redis does not answer or lost its keys lately (`now`, epoch
    seconds, against EPOCH_KEY): nobody is declared dead unseen."""
    ordered = sorted(set(tokens))
    if not ordered:
        return set()
    try:
        pipeline = client.pipeline(transaction=False)
        pipeline.get(EPOCH_KEY)
        for token in ordered:
            pipeline.exists(alive_key(token))
        epoch, *found = pipeline.execute()
    except (redis.RedisError, OSError) as exc:
        log.warning("sending liveness: Redis did not answer, no claimer judged dead: %s", exc)
        return set()
    if not settled(epoch, now):
        return set()
    return {token for token, exists in zip(ordered, found, strict=True) if not exists}


def settled(epoch: bytes | str | None, now: float) -> bool:
    """Whether this Redis has held the liveness keys long enough to trust an absent one:
    its first renewal (`epoch`, as stored) at least SETTLED_S before `now`. Pure."""
    if epoch is None:
        return False
    try:
        first_renewal = float(epoch)
    except ValueError:
        return False
    return now - first_renewal >= SETTLED_S
