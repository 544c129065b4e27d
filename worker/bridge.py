"""The event-bus bridge: alerts from Redis Streams and Redis pub/sub channels.

Streams are read through a consumer group, at least once: an entry is
acknowledged (XACK) only after its alert is committed, and the commit writes
the entry's id to the event log in the same transaction, so an entry
delivered again (the bridge was killed between commit and XACK) changes
nothing. Entries left pending by a consumer that died are taken over with
XAUTOCLAIM once idle for `claim_idle_ms`; a restarted bridge with the same
consumer name first re-reads its own pending entries.

Pub/sub channels (by pattern, `if.bus:*` by default) are at most once by
Redis's design: a message published while the bridge is down is gone. Use a
stream where every event matters.

One message never stops the bridge. Whatever handling it raises is sorted
into one of two kinds (`is_system_failure`):

- about the system: Redis or the database unreachable, timing out, out of
  connections, locked, or refusing every statement (a schema not migrated, a
  missing grant: `ProgrammingError`, `InternalError`). Every message would
  fail the same way, so none is dead-lettered: the one in hand is retried in
  place with backoff (a stream entry stays pending, unacknowledged) until it
  is stored or the bridge is told to stop.
- about the message: anything else. It cannot be parsed, it is too deep or
  too large, the database refuses this row (`IntegrityError`, `DataError`),
  or handling it hit a bug. Retrying the same message would fail the same
  way and hold up every message behind it, so it goes to a dead-letter
  stream (`<stream>:dead` for stream entries, `channel_dead_letter` for
  channel messages) with a short reason (`failure_reason`: the error's type
  and first line, numbers masked, never the SQL or its parameters), is
  acknowledged, and the bridge goes on. A bug that fails every message
  therefore fills the dead-letter stream rather than stopping the stream:
  parked entries keep their payload and can be added to the stream again.

A message can also end the process without raising anything it could catch
(the kernel's out-of-memory killer, a crash in a C extension). The bridge is
then restarted and reads the same entry first, and would die again: so pending
entries are re-read one at a time, and one that Redis has delivered more than
`max_deliveries` times (each read or claim counts; retrying a database outage
in place does not) is dead-lettered instead of being handled once more.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import redis
from sqlalchemy import exc as sa

from shared.alerts.formats import FormatError, bounded_key, bus
from shared.core.phone import mask_numbers_in
from shared.core.settings import Settings
from worker.producer import store_event

log = logging.getLogger(__name__)

DEAD_LETTER_SUFFIX = ":dead"
DEAD_LETTER_MAXLEN = 100_000
MAX_BACKOFF_SECONDS = 30.0
REASON_MAX = 500


@dataclass(frozen=True)
class BridgeConfig:
    streams: tuple[str, ...] = ("alert-dispatch:events",)
    group: str = "alert-dispatch"
    consumer: str = "bridge"
    channel_patterns: tuple[str, ...] = ("if.bus:*",)
    channel_dead_letter: str = "alert-dispatch:channels:dead"
    claim_idle_ms: int = 60_000
    batch: int = 50
    block_ms: int = 1_000
    max_deliveries: int = 5


# Failures of the database or of Redis as a whole, never of one message.
_SYSTEM_FAILURES = (
    sa.OperationalError,  # unreachable, timed out, locked, out of disk or connections
    sa.InterfaceError,
    sa.InternalError,  # the server's own state (an aborted transaction, ...)
    sa.ProgrammingError,  # the schema or grants do not match the code: every row fails
    sa.TimeoutError,  # no pooled connection became free
    sa.DisconnectionError,
    redis.ConnectionError,
    redis.TimeoutError,
    ConnectionError,
    TimeoutError,
)


def is_system_failure(exc: BaseException) -> bool:
    """Whether `exc` says the system is unwell (retry) rather than the message is bad."""
    if isinstance(exc, _SYSTEM_FAILURES):
        return True
    return isinstance(exc, sa.DBAPIError) and exc.connection_invalidated


def _first_line(value: object) -> str:
    try:
        text = str(value).strip()
    except Exception:
        return ""
    return text.splitlines()[0] if text else ""


def _clip(text: str, limit: int = REASON_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def failure_reason(exc: BaseException) -> str:
    """`Type: first line of its message`, short and with numbers masked.

    For a database error, the driver's message only: SQLAlchemy's own text
    goes on with the statement and its parameters, the message's data, and
    the driver's later lines (`DETAIL: Failing row contains ...`) quote it.
    """
    shown = exc.orig if isinstance(exc, sa.StatementError) and exc.orig is not None else exc
    message = _first_line(shown)
    name = type(exc).__name__
    return _clip(mask_numbers_in(f"{name}: {message}" if message else name))


def unusable_reason(exc: BaseException) -> str:
    """Why a message could not be turned into alerts, for its dead letter."""
    if isinstance(exc, UnicodeDecodeError):
        return "entry is not UTF-8"
    if isinstance(exc, FormatError):
        return _clip(mask_numbers_in(str(exc)))
    return f"could not be read: {failure_reason(exc)}"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class Backoff:
    """Doubling waits, capped, reset by a success: outages are retried without spinning."""

    delay: float = 0.0
    initial: float = 0.2

    def wait(self, stop: threading.Event) -> None:
        self.delay = min(MAX_BACKOFF_SECONDS, self.delay * 2 if self.delay else self.initial)
        stop.wait(self.delay)

    def reset(self) -> None:
        self.delay = 0.0


class Bridge:
    """Stream and channel consumers sharing one stop signal; `run` blocks until it is set."""

    def __init__(
        self,
        config: BridgeConfig,
        settings: Settings,
        redis_url: str,
        *,
        store: Callable[..., object] = store_event,
    ) -> None:
        self.config = config
        self.settings = settings
        self.redis_url = redis_url
        self.store = store
        self.stop = threading.Event()
        self.failed = threading.Event()

    def _client(self) -> redis.Redis:
        # Bytes in, bytes out: a message that is not UTF-8 is dead-lettered, not a crash.
        return redis.Redis.from_url(self.redis_url, socket_timeout=30, health_check_interval=30)

    # -- running --------------------------------------------------------------

    def run(self) -> bool:
        """Consume until `stop` is set; False when a consumer failed for good."""
        loops: list[Callable[[], None]] = []
        if self.config.streams:
            loops.append(self._stream_loop)
        if self.config.channel_patterns:
            loops.append(self._channel_loop)
        threads = [
            threading.Thread(target=self._guard, args=(loop,), name=loop.__name__.strip("_"))
            for loop in loops
        ]
        for thread in threads:
            thread.start()
        log.info(
            "bridge consuming streams %s (group %s, consumer %s) and channels %s",
            ", ".join(self.config.streams) or "-",
            self.config.group,
            self.config.consumer,
            ", ".join(self.config.channel_patterns) or "-",
        )
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=0.5)
        return not self.failed.is_set()

    def _guard(self, loop: Callable[[], None]) -> None:
        """A consumer that fails unexpectedly stops the bridge, so a supervisor restarts it."""
        try:
            loop()
        except Exception:
            log.exception("bridge consumer failed; stopping")
            self.failed.set()
            self.stop.set()

    # -- storing --------------------------------------------------------------

    def _store_until_stored(self, alert_in: object, marker: str | None, backoff: Backoff) -> bool:
        """Store, retrying system failures in place; False when told to stop first.

        In place, not by reading the message again: a stream entry's delivery
        count must not grow while the database is down (see `max_deliveries`).
        A failure about the message is raised to the caller.
        """
        while True:
            try:
                self.store(alert_in, settings=self.settings, via="bus", marker=marker)
                return True
            except Exception as exc:
                if not is_system_failure(exc):
                    raise
                if self.stop.is_set():
                    return False
                log.warning("bridge: store unavailable, will retry: %s", failure_reason(exc))
                backoff.wait(self.stop)

    def _stored_or_reason(
        self, events: list[object], marker: str | None, backoff: Backoff, what: str
    ) -> str | bool:
        """True once every alert is stored, False when told to stop first, else
        the reason for the message's dead letter."""
        for alert_in in events:
            try:
                if not self._store_until_stored(alert_in, marker, backoff):
                    return False
            except Exception as exc:
                if not isinstance(exc, sa.SQLAlchemyError):
                    # A bug, most likely: the traceback is worth a look (numbers are masked).
                    log.error("bridge: %s failed unexpectedly", what, exc_info=exc)
                return f"could not be stored: {failure_reason(exc)}"
        return True

    # -- streams --------------------------------------------------------------

    def _ensure_groups(self, client: redis.Redis) -> None:
        for stream in self.config.streams:
            try:
                # From the start of the stream: events written before the first
                # bridge ran are alerts too.
                client.xgroup_create(stream, self.config.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def _stream_loop(self) -> None:
        backoff = Backoff()
        client = self._client()
        groups_ready = False
        backlog = True  # our own pending entries first: a restart re-reads them
        next_claim = 0.0
        while not self.stop.is_set():
            try:
                if not groups_ready:
                    self._ensure_groups(client)
                    groups_ready = True
                if time.monotonic() >= next_claim:
                    if self._claim_abandoned(client):
                        backlog = True
                    next_claim = time.monotonic() + max(self.config.claim_idle_ms / 2000, 0.1)
                start = "0" if backlog else ">"
                reply = client.xreadgroup(
                    self.config.group,
                    self.config.consumer,
                    {stream: start for stream in self.config.streams},
                    # Pending entries one at a time: each read counts a delivery
                    # of the entries it returns, and only the one that may have
                    # ended the last process should be counted again.
                    count=1 if backlog else self.config.batch,
                    block=None if backlog else self.config.block_ms,
                )
                handled = 0
                for stream, entries in reply or []:
                    for entry_id, fields in entries:
                        if self.stop.is_set():
                            return
                        name, entry = _text(stream), _text(entry_id)
                        deliveries = self._deliveries(client, name, entry) if backlog else 1
                        self._handle_entry(client, name, entry, fields, deliveries, backoff)
                        handled += 1
                if backlog and handled == 0:
                    backlog = False
                backoff.reset()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("bridge: Redis unavailable, will retry: %s", exc)
                backlog = True
                backoff.wait(self.stop)
            except redis.ResponseError as exc:
                if "NOGROUP" in str(exc):
                    log.warning("bridge: consumer group gone (stream deleted?); recreating it")
                    groups_ready = False
                else:  # Redis refusing a command (out of memory, a key of the wrong type)
                    log.error("bridge: Redis refused a command, will retry: %s", exc)
                    backlog = True
                backoff.wait(self.stop)

    def _deliveries(self, client: redis.Redis, stream: str, entry_id: str) -> int:
        """How many times Redis has handed this pending entry out, this read included."""
        pending = client.xpending_range(
            stream, self.config.group, min=entry_id, max=entry_id, count=1
        )
        return int(pending[0]["times_delivered"]) if pending else 1

    def _claim_abandoned(self, client: redis.Redis) -> bool:
        """Take over entries another consumer read and never acknowledged (it died)."""
        claimed_any = False
        for stream in self.config.streams:
            start = "0-0"
            while True:
                reply = client.xautoclaim(
                    stream,
                    self.config.group,
                    self.config.consumer,
                    min_idle_time=self.config.claim_idle_ms,
                    start_id=start,
                    count=self.config.batch,
                )
                # The entries are now pending for us; the pending read that
                # follows handles them on the one path every entry takes.
                start, entries = _text(reply[0]), reply[1]
                if entries:
                    claimed_any = True
                    log.info("bridge: claimed %d abandoned entries of %s", len(entries), stream)
                if start == "0-0":
                    break
        return claimed_any

    def _handle_entry(
        self,
        client: redis.Redis,
        stream: str,
        entry_id: str,
        fields: Mapping[bytes, bytes] | None,
        deliveries: int,
        backoff: Backoff,
    ) -> None:
        """Store the entry's alert and acknowledge it, or dead-letter it; never raise for it.

        Only a system failure leaves it pending: Redis errors are raised (the
        loop retries the pending read), database outages retried in place.
        """
        if fields is None:  # deleted from the stream while pending
            client.xack(stream, self.config.group, entry_id)
            return
        if deliveries > self.config.max_deliveries:
            reason = (
                f"delivered {deliveries} times and never finished: "
                "it may end the bridge's process, so it was not read again"
            )
            self._dead_letter_entry(client, stream, entry_id, fields, reason)
            return
        try:
            decoded = {_text(name): _text(value) for name, value in fields.items()}
            events: list[object] = list(bus.to_alerts(bus.decode_stream_fields(decoded)))
        except Exception as exc:
            if not isinstance(exc, FormatError | UnicodeDecodeError):
                log.error("bridge: entry %s of %s unreadable", entry_id, stream, exc_info=exc)
            self._dead_letter_entry(client, stream, entry_id, fields, unusable_reason(exc))
            return
        marker = bounded_key("bus", stream, entry_id)
        outcome = self._stored_or_reason(events, marker, backoff, f"entry {entry_id} of {stream}")
        if outcome is False:
            return  # stopping: it stays pending for the next start
        if isinstance(outcome, str):
            self._dead_letter_entry(client, stream, entry_id, fields, outcome)
            return
        client.xack(stream, self.config.group, entry_id)

    def _dead_letter_entry(
        self,
        client: redis.Redis,
        stream: str,
        entry_id: str,
        fields: Mapping[bytes, bytes],
        reason: str,
    ) -> None:
        """Park the entry with its reason and acknowledge it, in one transaction."""
        payload = {
            _text(name) if isinstance(name, str) else name.decode(errors="backslashreplace"): _text(
                value
            )
            if isinstance(value, str)
            else value.decode(errors="backslashreplace")
            for name, value in fields.items()
        }
        pipe = client.pipeline(transaction=True)
        pipe.xadd(
            stream + DEAD_LETTER_SUFFIX,
            {
                "reason": reason,
                "stream": stream,
                "id": entry_id,
                "group": self.config.group,
                "at": _now(),
                "payload": json.dumps(payload, ensure_ascii=False),
            },
            maxlen=DEAD_LETTER_MAXLEN,
            approximate=True,
        )
        pipe.xack(stream, self.config.group, entry_id)
        pipe.execute()
        log.warning("bridge: entry %s of %s dead-lettered: %s", entry_id, stream, reason)

    # -- channels -------------------------------------------------------------

    def _channel_loop(self) -> None:
        backoff = Backoff()
        client = self._client()
        pubsub = None
        while not self.stop.is_set():
            try:
                if pubsub is None:
                    pubsub = client.pubsub(ignore_subscribe_messages=True)
                    pubsub.psubscribe(*self.config.channel_patterns)
                message = pubsub.get_message(timeout=self.config.block_ms / 1000)
                if message is None or message.get("type") != "pmessage":
                    continue
                self._handle_channel_message(
                    client, _text(message["channel"]), message["data"], backoff
                )
                backoff.reset()
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("bridge: Redis unavailable for channels, will retry: %s", exc)
                if pubsub is not None:
                    pubsub.close()
                pubsub = None
                backoff.wait(self.stop)
            except redis.ResponseError as exc:  # the dead-letter stream refused (out of memory?)
                log.error("bridge: Redis refused a command for channels: %s", exc)
                backoff.wait(self.stop)
        if pubsub is not None:
            pubsub.close()

    def _handle_channel_message(
        self, client: redis.Redis, channel: str, data: bytes, backoff: Backoff
    ) -> None:
        """Store the message's alert or dead-letter it; never raise for it.

        The message exists only here, so a database outage is retried until it
        is stored or the bridge stops.
        """
        try:
            message = bus.decode_json_object(data)
            events: list[object] = list(bus.to_alerts(message, channel=channel))
        except Exception as exc:
            if not isinstance(exc, FormatError):
                log.error("bridge: message from %s unreadable", channel, exc_info=exc)
            self._dead_letter_message(client, channel, data, unusable_reason(exc))
            return
        outcome = self._stored_or_reason(events, None, backoff, f"message from {channel}")
        if outcome is False:
            log.error("bridge: stopping with an unstored message from %s", channel)
        elif isinstance(outcome, str):
            self._dead_letter_message(client, channel, data, outcome)

    def _dead_letter_message(
        self, client: redis.Redis, channel: str, data: bytes, reason: str
    ) -> None:
        client.xadd(
            self.config.channel_dead_letter,
            {"reason": reason, "channel": channel, "at": _now(), "payload": data},
            maxlen=DEAD_LETTER_MAXLEN,
            approximate=True,
        )
        log.warning("bridge: message from %s dead-lettered: %s", channel, reason)
