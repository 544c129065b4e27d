"""One beat leads: a Celery beat scheduler that sends only while it holds a lock in Redis.

Every host may run a beat, so the schedule outlives a host; two beats sending
at once would fire every slot twice. The leader holds `beat:leader` (taken
with SET NX PX, value `host:pid:<random token>`, through redis-py's Lock),
renews it on each pass of the beat loop with a compare-and-set script, and
lets go on a clean stop, so a restart hands over at once. A standby tries to
take the lock every half second; when the leader dies, its lock lapses after
LOCK_TTL_S and a standby takes over.

No slot is sent twice across a takeover. When each entry last ran lives in
Redis (`beat:last_run`), not in a file on one host: a new leader adopts those
times before sending anything, so it continues the old leader's schedule
rather than starting one of its own. Each send first claims its slot in a
script that checks, in one step, that this beat still holds the lock and that
no other beat moved the entry's last run since this one read it. The claim
comes before the send: a beat that dies between the two loses that one slot
(every scheduled task is idempotent, and the next tick covers it); it never
sends a slot twice.

Why the plain Scheduler and not PersistentScheduler: the latter keeps the last
run times in a shelve file on the local disk. A standby on another host would
read its own stale copy and fire at once on takeover, and two files would be
two truths that disagree. Redis holds the one shared copy; a `--schedule` file
given on the command line is accepted and not used.

The leader also writes `beat:last_tick` (unix seconds) on each pass: the
receiver's /metrics shows it, so an operator can alert on beat not ticking.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum, IntEnum
from typing import Any

import redis
from celery.beat import ScheduleEntry, Scheduler
from redis.exceptions import LockError

log = logging.getLogger(__name__)

LEADER_KEY = "beat:leader"
LAST_TICK_KEY = "beat:last_tick"
LAST_RUN_KEY = "beat:last_run"  # hash: entry name -> unix seconds of its last claimed slot
LOCK_TTL_S = 4.0
POLL_S = 0.5  # how often a standby tries to take the lock
RENEW_EVERY_S = 1.0  # the longest a leader's loop sleeps between renewals
REDIS_TIMEOUT_S = 1.0

# KEYS[1] leader lock, KEYS[2] last-run hash; ARGV[1] our token, ARGV[2] entry name,
# ARGV[3] the last run we know ('' for none), ARGV[4] the slot being claimed.
# 1: claimed; 0: the lock is not ours; -1: another beat moved the entry meanwhile.
CLAIM_SCRIPT = """
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
if (redis.call('hget', KEYS[2], ARGV[2]) or '') ~= ARGV[3] then return -1 end
redis.call('hset', KEYS[2], ARGV[2], ARGV[4])
return 1
"""


class Attempt(Enum):
    """What one try at taking or renewing the lock found."""

    ACQUIRED = "acquired"  # newly taken: a new term, the schedule must be adopted
    RENEWED = "renewed"
    OTHER = "other"  # another beat holds it
    UNREACHABLE = "unreachable"


class Claim(IntEnum):
    SENT = 1
    NOT_LEADER = 0
    MOVED = -1


@dataclass(frozen=True)
class Lease:
    """This beat's view of its leadership; `renewed_at` is monotonic seconds."""

    held: bool = False
    renewed_at: float = 0.0


def next_lease(lease: Lease, attempt: Attempt, now: float, ttl_s: float = LOCK_TTL_S) -> Lease:
    """The lease after an attempt. While Redis does not answer, a leader stays one
    only for half the TTL: past that its lock may lapse and a standby may lead."""
    if attempt in (Attempt.ACQUIRED, Attempt.RENEWED):
        return Lease(True, now)
    if attempt is Attempt.OTHER:
        return Lease(False, lease.renewed_at)
    return Lease(lease.held and now - lease.renewed_at < ttl_s / 2, lease.renewed_at)


def takes_over(before: Lease, after: Lease, attempt: Attempt) -> bool:
    """A new term starts: this beat must adopt the schedule's state before sending."""
    return after.held and (not before.held or attempt is Attempt.ACQUIRED)


def loop_wait(lease: Lease, scheduler_wait: float) -> float:
    """How long the beat loop may sleep: a leader renews at least every RENEW_EVERY_S,
    a standby tries again after POLL_S."""
    if not lease.held:
        return POLL_S
    return min(scheduler_wait, RENEW_EVERY_S)


def run_stamp(moment: datetime) -> str:
    """An entry's last run as stored in Redis: unix seconds, to the microsecond."""
    return f"{moment.timestamp():.6f}"


def run_time(stamp: str) -> datetime:
    return datetime.fromtimestamp(float(stamp), tz=UTC)


class LeaderLock:
    """The lock in Redis and the scripts that act only while holding it (the I/O edge)."""

    def __init__(self, client: redis.Redis, identity: str, ttl_s: float = LOCK_TTL_S) -> None:
        self.client = client
        self.identity = identity
        self._lock = client.lock(LEADER_KEY, timeout=ttl_s, thread_local=False)
        self._claim = client.register_script(CLAIM_SCRIPT)
        self._token: str | None = None

    def attempt(self) -> Attempt:
        try:
            if self._token is not None:
                try:
                    self._lock.reacquire()
                    return Attempt.RENEWED
                except LockError:  # lapsed, or taken by another beat
                    self._token = None
            token = f"{self.identity}:{secrets.token_hex(8)}"
            if self._lock.acquire(blocking=False, token=token):
                self._token = token
                return Attempt.ACQUIRED
            return Attempt.OTHER
        except redis.RedisError:
            return Attempt.UNREACHABLE

    def heartbeat(self, now_unix: float) -> None:
        self.client.set(LAST_TICK_KEY, f"{now_unix:.3f}")

    def last_runs(self) -> dict[str, str]:
        stored = self.client.hgetall(LAST_RUN_KEY)
        return {name.decode(): stamp.decode() for name, stamp in stored.items()}

    def claim(self, name: str, known: str, slot: str) -> Claim:
        if self._token is None:
            return Claim.NOT_LEADER
        keys = [LEADER_KEY, LAST_RUN_KEY]
        return Claim(int(self._claim(keys=keys, args=[self._token, name, known, slot])))

    def release(self) -> None:
        """Let go on a clean stop, so a standby leads at once instead of after the TTL."""
        if self._token is None:
            return
        self._token = None
        log.info("beat: stopping; the lead is free for another beat (%s)", self.identity)
        with contextlib.suppress(LockError, redis.RedisError):  # lapsed, or Redis is gone
            self._lock.release()


class LeaderScheduler(Scheduler):
    """Celery's Scheduler, sending due entries only while this beat leads."""

    max_interval = RENEW_EVERY_S

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._leader: LeaderLock | None = None
        self._lease = Lease()
        self._known: dict[str, str] = {}  # entry -> its last run as read from or written to Redis
        self._ticked = False
        self._stopping = False
        super().__init__(*args, **kwargs)

    def _leader_lock(self) -> LeaderLock:
        """Made on the first tick, never when Celery builds a lazy scheduler to inspect."""
        if self._leader is None:
            from shared.core.embedded_redis import resolve_redis_url
            from shared.core.redis_url import redis_from_url
            from worker import context

            settings = context.settings()
            client = redis_from_url(
                resolve_redis_url(settings.redis_url, settings.data_dir),
                socket_timeout=REDIS_TIMEOUT_S,
                socket_connect_timeout=REDIS_TIMEOUT_S,
            )
            self._leader = LeaderLock(client, f"{socket.gethostname()}:{os.getpid()}")
        return self._leader

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if self._stopping:
            # Celery's stop handler closed us and raised SystemExit, but a signal that
            # lands inside redis-py's socket read can have that exit replaced by the
            # client's own cleanup error, which Celery logs and goes on: stop here,
            # rather than take the lead again with a closed schedule.
            raise SystemExit()
        leader = self._leader_lock()
        attempt = leader.attempt()
        before, self._lease = self._lease, next_lease(self._lease, attempt, time.monotonic())
        if takes_over(before, self._lease, attempt):
            if not self._adopt_last_runs(leader):
                self._lease = Lease()
                return POLL_S
            log.info("beat: leading now (%s); the other beats stand by", leader.identity)
        elif before.held and not self._lease.held:
            log.info("beat: no longer leading (%s): %s", leader.identity, attempt.value)
        elif not self._ticked and not self._lease.held:
            log.info("beat: standing by (%s): %s", leader.identity, attempt.value)
        self._ticked = True
        if not self._lease.held:
            return loop_wait(self._lease, POLL_S)
        try:
            leader.heartbeat(time.time())
        except redis.RedisError as exc:
            log.warning("beat: last tick not recorded: %s", exc)
        return loop_wait(self._lease, super().tick(*args, **kwargs))

    def _adopt_last_runs(self, leader: LeaderLock) -> bool:
        """Continue the schedule where the previous leader left it."""
        try:
            stored = leader.last_runs()
        except redis.RedisError as exc:
            log.warning("beat: schedule state unreadable, not leading yet: %s", exc)
            return False
        self._known = {}
        for name, entry in self.schedule.items():
            if name in stored:
                entry.last_run_at = run_time(stored[name])
                self._known[name] = stored[name]
        self._heap = None  # rebuilt from the adopted times on the next pass
        return True

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        """Send `entry` only once its slot is claimed: `self.schedule` already holds
        the entry's next state (Celery reserves it before sending)."""
        slot = run_stamp(self.schedule[entry.name].last_run_at)
        leader = self._leader_lock()
        try:
            claim = leader.claim(entry.name, self._known.get(entry.name, ""), slot)
        except redis.RedisError as exc:
            log.warning("beat: %s not sent, its slot could not be claimed: %s", entry.name, exc)
            return
        if claim is Claim.SENT:
            self._known[entry.name] = slot
            super().apply_entry(entry, producer=producer)
        elif claim is Claim.NOT_LEADER:
            log.info("beat: no longer leading (%s): lock taken", leader.identity)
            self._lease = Lease()
        else:
            log.warning("beat: %s was sent by another beat; adopting its schedule", entry.name)
            self._adopt_last_runs(leader)

    def close(self) -> None:
        self._stopping = True
        try:
            super().close()
        finally:
            if self._leader is not None:
                self._leader.release()
