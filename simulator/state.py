"""What the simulator has seen and done, safe to share between threads.

Request threads create messages and calls, the callback workers move them
along, and tests read everything through /_sim/*: one lock around plain
records, and copies handed out, so a reader never sees a half-made change.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from simulator.conference import ConferenceBook

# Enough for a long demo; oldest entries go first so memory stays bounded.
MAX_LOG_ENTRIES = 20_000

T = TypeVar("T")


@dataclass
class MessageRecord:
    """One outbound SMS (one destination of a send request)."""

    message_uuid: str
    src: str
    dst: str
    text: str
    type: str
    units: int
    url: str | None
    method: str
    log: bool
    powerpack_uuid: str | None
    created: float
    status: str = "queued"
    # A WhatsApp message's template as sent: name, language, components.
    template: dict[str, Any] | None = None
    error_code: int | None = None
    sent_time: float | None = None
    final_time: float | None = None
    updated: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CallRecord:
    """One call leg (outbound, or inbound) and everything that happened on it."""

    request_uuid: str
    call_uuid: str
    from_number: str
    to_number: str
    params: dict[str, Any]
    created: float
    status: str = "queued"
    hangup_cause: str | None = None
    ring_time: float | None = None
    answer_time: float | None = None
    end_time: float | None = None
    machine: bool = False  # the far end is a machine
    machine_detected: bool = False  # Plivo's detection found it
    # A transfer (`POST /Call/{uuid}/`) not yet followed: {"url", "method"}.
    transfer: dict[str, str] | None = None
    # "inbound": a call someone placed to one of the account's numbers (/_sim/inbound_call).
    direction: str = "outbound"
    spoken: list[str] = field(default_factory=list)
    # The numbers each `<Dial>` of the call's XML put it through to, in order.
    dialled: list[str] = field(default_factory=list)
    # The rooms each `<Conference>` of the call's XML put it in, in order.
    conferences: list[str] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    xml: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data["from_number"]
        data["to"] = data["to_number"]
        return data


class SimulatorState:
    """All records of one simulator, behind one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._messages: dict[str, MessageRecord] = {}
        self._calls: dict[str, CallRecord] = {}
        self._call_of_request: dict[str, str] = {}
        self._requests: deque[dict[str, Any]] = deque(maxlen=MAX_LOG_ENTRIES)
        self._callbacks: deque[dict[str, Any]] = deque(maxlen=MAX_LOG_ENTRIES)
        # Conference rooms have a lock of their own: members wait in them from many lanes.
        self.conferences = ConferenceBook()

    def reset(self) -> None:
        self.conferences.reset()
        with self._lock:
            self._messages.clear()
            self._calls.clear()
            self._call_of_request.clear()
            self._requests.clear()
            self._callbacks.clear()

    # -- messages -------------------------------------------------------------

    def add_message(self, record: MessageRecord) -> None:
        with self._lock:
            record.updated = record.created
            record.history.append({"status": record.status, "time": record.created})
            self._messages[record.message_uuid] = record

    def transition_message(
        self,
        message_uuid: str,
        status: str,
        error_code: int | None = None,
        at: float | None = None,
    ) -> MessageRecord | None:
        """Move a message to `status` at `at` (wall time; default now); None if it was
        reset away meanwhile."""
        now = time.time() if at is None else at
        with self._lock:
            record = self._messages.get(message_uuid)
            if record is None:
                return None
            record.status = status
            record.updated = now
            if status == "sent":
                record.sent_time = now
            elif status in ("delivered", "undelivered", "failed"):
                record.final_time = now
                record.error_code = error_code
            record.history.append({"status": status, "time": now})
            return copy.deepcopy(record)

    def message(self, message_uuid: str) -> MessageRecord | None:
        with self._lock:
            record = self._messages.get(message_uuid)
            return copy.deepcopy(record) if record else None

    def messages(self) -> list[MessageRecord]:
        with self._lock:
            return copy.deepcopy(list(self._messages.values()))

    # -- calls ----------------------------------------------------------------

    def add_call(self, record: CallRecord) -> None:
        with self._lock:
            record.events.append({"event": "queued", "time": record.created})
            self._calls[record.call_uuid] = record
            self._call_of_request[record.request_uuid] = record.call_uuid

    def update_call(self, call_uuid: str, change: Callable[[CallRecord], T]) -> T | None:
        """Apply `change` to the live record under the lock; None if the call is gone."""
        with self._lock:
            record = self._calls.get(call_uuid)
            return change(record) if record is not None else None

    def call_uuid_for_request(self, request_uuid: str) -> str | None:
        """The call a request uuid (the create-call answer's) placed; None if unknown."""
        with self._lock:
            return self._call_of_request.get(request_uuid)

    def call_status(self, call_uuid: str) -> str | None:
        """The call's status without copying the whole record (checked while a call plays)."""
        with self._lock:
            record = self._calls.get(call_uuid)
            return record.status if record is not None else None

    def call(self, call_uuid: str) -> CallRecord | None:
        with self._lock:
            record = self._calls.get(call_uuid)
            return copy.deepcopy(record) if record else None

    def calls(self) -> list[CallRecord]:
        with self._lock:
            return copy.deepcopy(list(self._calls.values()))

    # -- logs -----------------------------------------------------------------

    def add_request(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._requests.append(entry)

    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._requests))

    def add_callback(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._callbacks.append(entry)

    def callbacks(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._callbacks))
