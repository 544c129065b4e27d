"""Sends one signed callback the way Plivo does, retrying once.

Form-encoded POST (or GET with the parameters in the query), signed with the
account's auth token in both V3 and V2 headers over the exact URL called, query
string included. Each attempt is logged in the state so tests can see what a
receiver was sent and the status it answered (not its body: the log is open
to anyone who reaches the simulator). Only the configured receiver is ever
called (simulator.outbound); a request elsewhere is logged as refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from shared.plivo.signature import sign_request_headers
from simulator.outbound import refusal
from simulator.state import SimulatorState

log = logging.getLogger(__name__)

USER_AGENT = "PlivoSimulator/1.0"


@dataclass(frozen=True)
class CallbackResult:
    """The receiver's answer; status None means no HTTP answer at all."""

    status: int | None
    body: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 400


def _with_query(url: str, params: Mapping[str, str]) -> str:
    """Append `params` to the URL's own query (GET callbacks)."""
    if not params:
        return url
    parts = urlsplit(url)
    extra = urlencode(list(params.items()))
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


class CallbackSender:
    """Signs, sends, retries once, and records every attempt."""

    def __init__(
        self,
        *,
        auth_token: str,
        state: SimulatorState,
        timeout_s: float,
        retry_delay_s: float,
        stopping: threading.Event,
        retries: int = 1,
        receiver_url: str | None = None,
    ) -> None:
        self._auth_token = auth_token
        self._receiver_url = receiver_url
        self._state = state
        self._timeout_s = timeout_s
        self._retry_delay_s = retry_delay_s
        self._stopping = stopping
        self._retries = retries

    def send(
        self, url: str, params: Mapping[str, str], method: str = "POST", kind: str = ""
    ) -> CallbackResult:
        """Deliver, retrying once on a network error or an HTTP error status."""
        clean = {key: "" if value is None else str(value) for key, value in params.items()}
        refused = refusal(url, self._receiver_url)
        if refused:
            log.warning("callback %s not sent: %s", kind, refused)
            result = CallbackResult(None, error=f"refused: {refused}")
            self._record(url, clean, method.upper(), kind, 1, time.time(), result)
            return result
        result = CallbackResult(None, error="not attempted")
        for attempt in range(1, self._retries + 2):
            result = self._attempt(url, clean, method.upper(), kind, attempt)
            if result.ok or attempt > self._retries:
                break
            if self._stopping.wait(self._retry_delay_s):
                break
        return result

    def _attempt(
        self, url: str, params: dict[str, str], method: str, kind: str, attempt: int
    ) -> CallbackResult:
        started = time.time()
        try:
            if method == "GET":
                final_url = _with_query(url, params)
                headers = sign_request_headers(self._auth_token, final_url, {}, "GET")
                headers["User-Agent"] = USER_AGENT
                response = requests.get(final_url, headers=headers, timeout=self._timeout_s)
            else:
                headers = sign_request_headers(self._auth_token, url, params, "POST")
                headers["User-Agent"] = USER_AGENT
                response = requests.post(url, data=params, headers=headers, timeout=self._timeout_s)
            result = CallbackResult(response.status_code, response.text)
        except requests.RequestException as exc:
            result = CallbackResult(None, error=f"{type(exc).__name__}: {exc}")
        if not result.ok:
            log.info(
                "callback %s to %s failed (attempt %d): %s",
                kind,
                url,
                attempt,
                result.error or result.status,
            )
        self._record(url, params, method, kind, attempt, started, result)
        return result

    def _record(
        self,
        url: str,
        params: dict[str, str],
        method: str,
        kind: str,
        attempt: int,
        started: float,
        result: CallbackResult,
    ) -> None:
        self._state.add_callback(
            {
                "time": started,
                "kind": kind,
                "url": url,
                "method": method,
                "params": params,
                "attempt": attempt,
                "status": result.status,
                "error": result.error,
                "duration_ms": round((time.time() - started) * 1000, 1),
            }
        )
