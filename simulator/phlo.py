"""PHLO runs: `POST /v1/account/{auth_id}/phlo/{phlo_id}`, and what the flow then did.

What this follows, from Plivo's public docs ("Run a PHLO") and its Python SDK
(`PhloClient`, `Phlo.run`): PHLOs run on another host,
`https://phlorunner.plivo.com` (here the simulator's own address), at
`/v1/account/{auth_id}/phlo/{phlo_id}` with `account` in lower case, under the
same HTTP Basic auth as the REST API. The JSON body holds the keys the PHLO's
Start node declares (documented: `from`, `to`; any others the flow uses as
liquid tags). Plivo answers 201 `{"phlo_id", "api_id", "message"}`: `api_id`
names the run (the phlo_run_id) and `message` says what the first node did.
No documented API reads a run back.

The simulated PHLO calls `to` and speaks `text`: the number's voice scenario
decides whether anyone answers, placed on the account's calls-per-second pace,
and the run ends `completed` (answered) or `failed` (no-answer, busy, failed,
timeout). Every run and its outcome are recorded for `/_sim/phlo_runs` (what
Plivo's console shows of a PHLO's runs). Faults, latency, auth and the API
rate limit apply as to every `/v1/` request. Simplified: a PHLO id that is
not a UUID is 404 (any UUID is a PHLO), and a run without a valid `to` is
refused with 400 rather than failing inside the flow; error texts are the
simulator's own.
"""

from __future__ import annotations

import copy
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from simulator.config import SimulatorConfig
from simulator.dispatcher import Dispatcher
from simulator.errors import ApiError
from simulator.formats import new_uuid, plivo_number
from simulator.limits import Pacer
from simulator.scenarios import ScenarioBook

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MAX_RUNS = 20_000


@dataclass
class PhloRunRecord:
    """One run of a PHLO: what it was given, and how it ended."""

    phlo_run_id: str
    phlo_id: str
    to: str
    from_number: str | None
    payload: dict[str, Any]
    created: float
    status: str = "running"
    outcome: str | None = None  # answered, or the voice scenario's kind when not
    ended: float | None = None
    spoken: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check_run(phlo_id: str, body: Any) -> tuple[str, str | None, dict[str, Any]]:
    """(to, from, payload) of a run request; ApiError (404, 400) otherwise."""
    if not _UUID.match(phlo_id):
        raise ApiError(404, "PHLO not found")
    if body is None:
        body = {}
    if not isinstance(body, Mapping):
        raise ApiError(400, "the payload must be a JSON object of the Start node's keys")
    to = plivo_number(str(body.get("to") or ""))
    if to is None:
        raise ApiError(400, "to must be a phone number (a key of the PHLO's Start node)")
    source = body.get("from")
    from_number = plivo_number(str(source)) if source else None
    if source and from_number is None:
        raise ApiError(400, "from must be a phone number")
    return to, from_number, dict(body)


class PhloService:
    """Runs PHLOs that call one number each, and keeps every run."""

    def __init__(
        self, *, config: SimulatorConfig, scenarios: ScenarioBook, dispatcher: Dispatcher
    ) -> None:
        self._config = config
        self._scenarios = scenarios
        self._dispatcher = dispatcher
        self._pacer = Pacer(config.calls_per_second)
        self._lock = threading.Lock()
        self._runs: dict[str, PhloRunRecord] = {}

    def reset(self) -> None:
        self._pacer.reset()
        with self._lock:
            self._runs.clear()

    def run(self, phlo_id: str, body: Any) -> tuple[int, dict[str, Any]]:
        to, from_number, payload = check_run(phlo_id, body)
        record = PhloRunRecord(new_uuid(), phlo_id, to, from_number, payload, time.time())
        with self._lock:
            if len(self._runs) >= MAX_RUNS:
                self._runs.pop(next(iter(self._runs)))
            self._runs[record.phlo_run_id] = record
        slot = self._pacer.reserve(time.monotonic())
        delay = self._scenarios.get(to).answer_delay_s
        ends_at = slot + (self._config.ring_delay_s if delay is None else delay)
        end = partial(self._end, record.phlo_run_id)
        self._dispatcher.schedule(ends_at, record.phlo_run_id, end)
        message = (
            f"b'Start' - b'Initiate Call' with phlo_run_uuid: {record.phlo_run_id} executed "
            "with response: {'message': 'call fired'}"
        )
        return 201, {"api_id": record.phlo_run_id, "phlo_id": phlo_id, "message": message}

    def _end(self, run_id: str) -> None:
        with self._lock:
            record = self._runs.get(run_id)
            if record is None:
                return
            voice = self._scenarios.get(record.to).voice
            record.ended = time.time()
            if voice.answered:
                record.status, record.outcome = "completed", "answered"
                record.spoken.append(str(record.payload.get("text", "")))
            else:
                record.status, record.outcome = "failed", voice.kind

    def runs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(run.to_json()) for run in self._runs.values()]
