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

A message that cannot be parsed, or whose alert cannot be stored for a
reason that retrying will not fix, goes to a dead-letter stream with the
reason (`<stream>:dead` for stream entries, `channel_dead_letter` for
channel messages), and the bridge goes on. Database and Redis outages are
retried, with backoff, without losing the entry.
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
from sqlalchemy.exc import DBAPIError, OperationalError

from shared.formats import FormatError, bounded_key, bus
from shared.settings import Settings
from worker.producer import store_event

log = logging.getLogger(__name__)

DEAD_LETTER_SUFFIX = ":dead"
DEAD_LETTER_MAXLEN = 100_000
MAX_BACKOFF_SECONDS = 30.0


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


class TransientError(Exception):
    """The store was unreachable: try the same message again later."""


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | redis.ConnectionError | redis.TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


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

    def _store(self, alert_in: object, marker: str | None) -> None:
        try:
            self.store(alert_in, settings=self.settings, via="bus", marker=marker)
        except Exception as exc:
            if _is_transient(exc):
                raise TransientError(str(exc)) from exc
            raise

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
                    count=self.config.batch,
                    block=None if backlog else self.config.block_ms,
                )
                handled = 0
                for stream, entries in reply or []:
                    for entry_id, fields in entries:
                        if self.stop.is_set():
                            return
                        self._handle_entry(client, _text(stream), _text(entry_id), fields)
                        handled += 1
                if backlog and handled == 0:
                    backlog = False
                backoff.reset()
            except TransientError as exc:
                log.warning("bridge: store unavailable, will retry: %s", exc)
                backlog = True
                backoff.wait(self.stop)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                log.warning("bridge: Redis unavailable, will retry: %s", exc)
                backlog = True
                backoff.wait(self.stop)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("bridge: consumer group gone (stream deleted?); recreating it")
                groups_ready = False
                backoff.wait(self.stop)

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
        self, client: redis.Redis, stream: str, entry_id: str, fields: Mapping[bytes, bytes] | None
    ) -> None:
        if fields is None:  # deleted from the stream while pending
            client.xack(stream, self.config.group, entry_id)
            return
        try:
            decoded = {_text(name): _text(value) for name, value in fields.items()}
            events = bus.to_alerts(bus.decode_stream_fields(decoded))
        except UnicodeDecodeError:
            self._dead_letter_entry(client, stream, entry_id, fields, "entry is not UTF-8")
            return
        except FormatError as exc:
            self._dead_letter_entry(client, stream, entry_id, fields, str(exc))
            return
        marker = bounded_key("bus", stream, entry_id)
        for alert_in in events:
            try:
                self._store(alert_in, marker)
            except TransientError:
                raise
            except Exception as exc:
                log.exception("bridge: entry %s of %s could not be stored", entry_id, stream)
                reason = f"could not be stored: {type(exc).__name__}: {exc}"[:1000]
                self._dead_letter_entry(client, stream, entry_id, fields, reason)
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
        if pubsub is not None:
            pubsub.close()

    def _handle_channel_message(
        self, client: redis.Redis, channel: str, data: bytes, backoff: Backoff
    ) -> None:
        try:
            message = bus.decode_json_object(data)
            events = bus.to_alerts(message, channel=channel)
        except FormatError as exc:
            self._dead_letter_message(client, channel, data, str(exc))
            return
        for alert_in in events:
            # The message exists only here: keep trying until it is stored or we stop.
            while True:
                try:
                    self._store(alert_in, None)
                    break
                except TransientError as exc:
                    if self.stop.is_set():
                        log.error("bridge: stopping with an unstored message from %s", channel)
                        return
                    log.warning("bridge: store unavailable, will retry: %s", exc)
                    backoff.wait(self.stop)
                except Exception as exc:
                    log.exception("bridge: message from %s could not be stored", channel)
                    reason = f"could not be stored: {type(exc).__name__}: {exc}"[:1000]
                    self._dead_letter_message(client, channel, data, reason)
                    return

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
