"""The bridge as one process: a stream and a channel consumer, each on its thread.

They share one stop signal. A consumer that fails unexpectedly stops both,
and `run` says so, so the process exits non-zero and its supervisor starts it
again rather than leaving half a bridge running.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from shared.core.settings import Settings
from worker.bridge.channels import ChannelConsumer
from worker.bridge.config import BridgeConfig
from worker.bridge.storing import Storer
from worker.bridge.streams import StreamConsumer
from worker.producer import store_event

log = logging.getLogger("worker.bridge")


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
        self.stop = threading.Event()
        self.failed = threading.Event()
        self.storer = Storer(store, settings, self.stop)

    def _client(self) -> redis.Redis:
        # Bytes in, bytes out: a message that is not UTF-8 is dead-lettered, not a crash.
        return redis.Redis.from_url(self.redis_url, socket_timeout=30, health_check_interval=30)

    def _loops(self) -> list[tuple[str, Callable[[], None]]]:
        loops: list[tuple[str, Callable[[], None]]] = []
        if self.config.streams:
            streams = StreamConsumer(self.config, self._client, self.storer, self.stop)
            loops.append(("stream_loop", streams.run))
        if self.config.channel_patterns:
            channels = ChannelConsumer(self.config, self._client, self.storer, self.stop)
            loops.append(("channel_loop", channels.run))
        return loops

    def run(self) -> bool:
        """Consume until `stop` is set; False when a consumer failed for good."""
        threads = [
            threading.Thread(target=self._guard, args=(loop,), name=name)
            for name, loop in self._loops()
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
