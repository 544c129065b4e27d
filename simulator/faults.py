"""Injected failures of the API itself: errors, slowness, and the ambiguous timeout.

The worst failure for a pager is not an error but a timeout after Plivo took
the request: the message goes out, the client cannot know, and a naive retry
pages twice. `timeout_after_receive` reproduces exactly that, so the client's
reconciliation can be tested instead of hoped for.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

HTTP_METHODS = ("GET", "POST", "DELETE")


class FaultError(ValueError):
    """A fault body the simulator cannot apply; the message names the field."""


@dataclass(frozen=True)
class Fault:
    """One active fault; `paths` (fragments of the path) and `methods` empty mean every
    API request. A method tells a send (POST /Message/) from a look-up (GET) of one path."""

    status: int | None = None
    rate: float = 1.0
    duration_s: float | None = None
    latency_ms: int = 0
    timeout_after_receive: bool = False
    paths: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    started: float = 0.0

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Fault:
        if not isinstance(data, Mapping):
            raise FaultError("fault must be a JSON object")
        status = data.get("status")
        if status is not None and (not isinstance(status, int) or not 400 <= status <= 599):
            raise FaultError("status must be an HTTP error status (400-599)")
        rate = _number(data, "rate", 1.0)
        if not 0.0 <= rate <= 1.0:
            raise FaultError("rate must be between 0 and 1")
        duration = data.get("duration_s")
        if duration is not None:
            duration = _number(data, "duration_s", 0.0)
            if duration <= 0:
                raise FaultError("duration_s must be positive (leave it out for no end)")
        latency = _number(data, "latency_ms", 0)
        if latency < 0:
            raise FaultError("latency_ms must be >= 0")
        stall = data.get("timeout_after_receive", False)
        if not isinstance(stall, bool):
            raise FaultError("timeout_after_receive must be true or false")
        if status is None and not stall and not latency:
            raise FaultError("give a status, latency_ms or timeout_after_receive")
        paths = _one_or_many(data, "paths")
        if not all(isinstance(p, str) and p for p in paths):
            raise FaultError("paths must be a string or a list of strings")
        methods = _one_or_many(data, "methods")
        if not all(isinstance(m, str) and m.upper() in HTTP_METHODS for m in methods):
            raise FaultError(f"methods must be one or a list of {', '.join(HTTP_METHODS)}")
        return cls(
            status=status,
            rate=rate,
            duration_s=duration,
            latency_ms=int(latency),
            timeout_after_receive=stall,
            paths=paths,
            methods=tuple(m.upper() for m in methods),
            started=time.monotonic(),
        )

    def active(self, now: float) -> bool:
        return self.duration_s is None or now < self.started + self.duration_s

    def covers(self, path: str, method: str) -> bool:
        if self.methods and method.upper() not in self.methods:
            return False
        return not self.paths or any(fragment in path for fragment in self.paths)

    def to_json(self) -> dict[str, Any]:
        remaining = None
        if self.duration_s is not None:
            remaining = max(0.0, self.started + self.duration_s - time.monotonic())
        return {
            "status": self.status,
            "rate": self.rate,
            "duration_s": self.duration_s,
            "remaining_s": remaining,
            "latency_ms": self.latency_ms,
            "timeout_after_receive": self.timeout_after_receive,
            "paths": list(self.paths),
            "methods": list(self.methods),
        }


def _one_or_many(data: Mapping[str, Any], key: str) -> tuple[Any, ...]:
    """A field given as one value or a list of them, as a tuple (empty when absent)."""
    raw = data.get(key) or ()
    return (raw,) if isinstance(raw, str) else tuple(raw)


def _number(data: Mapping[str, Any], key: str, default: float) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(f"{key} must be a number")
    return float(value)


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: wait, then fail with `status`, or stall after answering."""

    latency_s: float = 0.0
    status: int | None = None
    stall: bool = False


NO_FAULT = FaultDecision()


def error_text(status: int) -> str:
    """Plivo-like lower-case error text for an injected status."""
    if status == 429:
        return "rate_limit_exceeded"
    try:
        return HTTPStatus(status).phrase.lower()
    except ValueError:
        return "error"


class FaultBook:
    """The one active fault (a new one replaces the old), sampled per request."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._fault: Fault | None = None
        self._random = random.Random(seed)

    def set(self, data: Mapping[str, Any]) -> Fault:
        fault = Fault.parse(data)
        with self._lock:
            self._fault = fault
        return fault

    def clear(self) -> None:
        with self._lock:
            self._fault = None

    def current(self) -> Fault | None:
        with self._lock:
            if self._fault is not None and not self._fault.active(time.monotonic()):
                self._fault = None
            return self._fault

    def decide(self, path: str, method: str) -> FaultDecision:
        fault = self.current()
        if fault is None or not fault.covers(path, method):
            return NO_FAULT
        with self._lock:
            hit = self._random.random() < fault.rate
        latency = fault.latency_ms / 1000.0
        if not hit:
            return FaultDecision(latency_s=latency)
        if fault.timeout_after_receive:
            return FaultDecision(latency_s=latency, stall=True)
        return FaultDecision(latency_s=latency, status=fault.status)
