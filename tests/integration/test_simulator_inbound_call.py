"""`POST /_sim/inbound_call`: bad requests are refused naming the field, and nothing is sent
anywhere but the receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread

GOOD = {"from": "+14155550123", "to": "+14155550000", "path": "/plivo/voice/inbound"}


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    running = start_in_thread(SimulatorConfig(receiver_url="http://127.0.0.1:9"))
    yield running
    running.stop()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"from": "alice"}, "from"),
        ({"to": None}, "to"),
        ({"digits": "11"}, "digits"),
        ({"digits": ["1", "x"]}, "digits"),
        ({"method": "PUT"}, "method"),
        ({"path": None, "url": "http://example.com/answer"}, "url"),
    ],
)
def test_a_bad_inbound_call_is_refused_naming_the_field(sim, change, field) -> None:
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    answer = requests.post(f"{sim.url}/_sim/inbound_call", json=body, timeout=10)
    assert answer.status_code == 400
    assert field in answer.json()["error"]
    assert sim.state.calls() == [] and sim.state.callbacks() == []


def test_an_unanswered_answer_url_ends_the_call_with_its_error(sim) -> None:
    answer = requests.post(f"{sim.url}/_sim/inbound_call", json=GOOD, timeout=30)
    assert answer.status_code == 200
    ended = answer.json()
    assert (ended["direction"], ended["status"], ended["spoken"]) == ("inbound", "completed", [])
    assert ended["errors"] and "voice:inbound" in ended["errors"][0]
    [listed] = requests.get(
        f"{sim.api_root}/Call/", auth=(sim.config.auth_id, sim.config.auth_token), timeout=10
    ).json()["objects"]
    assert listed["call_direction"] == "inbound"
