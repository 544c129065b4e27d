"""A message's alerts into the database: outages retried in place, anything else a reason.

Retried in place, not by reading the message again: a stream entry's delivery
count must not grow while the database is down (see `max_deliveries`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import exc as sa

from shared.core.settings import Settings
from worker.bridge.failures import Backoff, failure_reason, is_system_failure

log = logging.getLogger("worker.bridge")


class Storer:
    """Stores through `store` (worker.producer.store_event) until stored or `stop` is set."""

    def __init__(
        self, store: Callable[..., object], settings: Settings, stop: threading.Event
    ) -> None:
        self.store = store
        self.settings = settings
        self.stop = stop

    def until_stored(self, alert_in: object, marker: str | None, backoff: Backoff) -> bool:
        """Store, retrying system failures in place; False when told to stop first.

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

    def stored_or_reason(
        self, events: list[object], marker: str | None, backoff: Backoff, what: str
    ) -> str | bool:
        """True once every alert is stored, False when told to stop first, else
        the reason for the message's dead letter."""
        for alert_in in events:
            try:
                if not self.until_stored(alert_in, marker, backoff):
                    return False
            except Exception as exc:
                if not isinstance(exc, sa.SQLAlchemyError):
                    # A bug, most likely: the traceback is worth a look (numbers are masked).
                    log.error("bridge: %s failed unexpectedly", what, exc_info=exc)
                return f"could not be stored: {failure_reason(exc)}"
        return True
