"""Redis Streams, read through a consumer group: at least once, abandoned entries taken over.

An entry is acknowledged only after its alert is committed; the commit holds
the entry's id, so an entry delivered again changes nothing. Pending entries
(ours after a restart, or claimed from a consumer that died) are re-read one
at a time, and one delivered more than `max_deliveries` times is parked: it
may be what ended the last process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

import redis

from shared.alerts.formats import FormatError, bounded_key, bus
from worker.bridge.config import BridgeConfig
from worker.bridge.dead_letters import as_text, park_entry
from worker.bridge.failures import Backoff, unusable_reason
from worker.bridge.storing import Storer

log = logging.getLogger("worker.bridge")


class StreamConsumer:
    """Consumes `config.streams` until `stop` is set; Redis outages are waited out."""

    def __init__(
        self,
        config: BridgeConfig,
        connect: Callable[[], redis.Redis],
        storer: Storer,
        stop: threading.Event,
    ) -> None:
        self.config = config
        self.connect = connect
        self.storer = storer
        self.stop = stop

    def _ensure_groups(self, client: redis.Redis) -> None:
        for stream in self.config.streams:
            try:
                # From the start of the stream: events written before the first
                # bridge ran are alerts too.
                client.xgroup_create(stream, self.config.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def run(self) -> None:
        backoff = Backoff()
        client = self.connect()
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
                handled = self._read(client, backlog, backoff)
                if handled is None:
                    return
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

    def _read(self, client: redis.Redis, backlog: bool, backoff: Backoff) -> int | None:
        """Read and handle one batch (our pending entries while `backlog`); how many
        were handled, None when told to stop in the middle."""
        reply = client.xreadgroup(
            self.config.group,
            self.config.consumer,
            {stream: "0" if backlog else ">" for stream in self.config.streams},
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
                    return None
                name, entry = as_text(stream), as_text(entry_id)
                deliveries = self._deliveries(client, name, entry) if backlog else 1
                self._handle_entry(client, name, entry, fields, deliveries, backoff)
                handled += 1
        return handled

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
                start, entries = as_text(reply[0]), reply[1]
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
        group = self.config.group
        if fields is None:  # deleted from the stream while pending
            client.xack(stream, group, entry_id)
            return
        if deliveries > self.config.max_deliveries:
            reason = (
                f"delivered {deliveries} times and never finished: "
                "it may end the bridge's process, so it was not read again"
            )
            park_entry(client, group, stream, entry_id, fields, reason)
            return
        try:
            decoded = {as_text(name): as_text(value) for name, value in fields.items()}
            events: list[object] = list(bus.to_alerts(bus.decode_stream_fields(decoded)))
        except Exception as exc:
            if not isinstance(exc, FormatError | UnicodeDecodeError):
                log.error("bridge: entry %s of %s unreadable", entry_id, stream, exc_info=exc)
            park_entry(client, group, stream, entry_id, fields, unusable_reason(exc))
            return
        marker = bounded_key("bus", stream, entry_id)
        what = f"entry {entry_id} of {stream}"
        outcome = self.storer.stored_or_reason(events, marker, backoff, what)
        if outcome is False:
            return  # stopping: it stays pending for the next start
        if isinstance(outcome, str):
            park_entry(client, group, stream, entry_id, fields, outcome)
            return
        client.xack(stream, group, entry_id)
