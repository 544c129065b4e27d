"""Redis pub/sub channels, by pattern: at most once, by Redis's design.

A message published while the bridge is down is gone, so a message in hand
is retried through a database outage until it is stored or the bridge stops.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from shared.alerts.formats import FormatError, bus
from worker.bridge.config import BridgeConfig
from worker.bridge.dead_letters import as_text, park_message
from worker.bridge.failures import Backoff, unusable_reason
from worker.bridge.storing import Storer

log = logging.getLogger("worker.bridge")


class ChannelConsumer:
    """Consumes `config.channel_patterns` until `stop` is set; Redis outages are waited out."""

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

    def run(self) -> None:
        backoff = Backoff()
        client = self.connect()
        pubsub = None
        while not self.stop.is_set():
            try:
                if pubsub is None:
                    pubsub = client.pubsub(ignore_subscribe_messages=True)
                    pubsub.psubscribe(*self.config.channel_patterns)
                message = pubsub.get_message(timeout=self.config.block_ms / 1000)
                if message is None or message.get("type") != "pmessage":
                    continue
                self._handle(client, as_text(message["channel"]), message["data"], backoff)
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

    def _handle(self, client: redis.Redis, channel: str, data: bytes, backoff: Backoff) -> None:
        """Store the message's alert or dead-letter it; never raise for it."""
        dead_letter = self.config.channel_dead_letter
        try:
            message = bus.decode_json_object(data)
            events: list[object] = list(bus.to_alerts(message, channel=channel))
        except Exception as exc:
            if not isinstance(exc, FormatError):
                log.error("bridge: message from %s unreadable", channel, exc_info=exc)
            park_message(client, dead_letter, channel, data, unusable_reason(exc))
            return
        what = f"message from {channel}"
        outcome = self.storer.stored_or_reason(events, None, backoff, what)
        if outcome is False:
            log.error("bridge: stopping with an unstored message from %s", channel)
        elif isinstance(outcome, str):
            park_message(client, dead_letter, channel, data, outcome)
