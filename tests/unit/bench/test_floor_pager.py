"""The floor pager of the ingestion benchmark: it must really page (one SMS per
recipient, over HTTP to the simulator) and refuse what any receiver refuses, or
its rate would be a floor of nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from bench import stats
from bench.naive import tasks
from bench.naive.config import STATUS_PATH
from bench.naive.floor_web import app
from bench.perf_ingestion import SINGLES_RATIO_GOAL, Ingested, floor_row
from shared.plivo.signature import sign_request_headers
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread

TOKEN = "floor-token"
PUBLIC_URL = "http://floor.test"


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    with start_in_thread(SimulatorConfig()) as running:
        yield running


@pytest.fixture
def client(sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    settings = {
        "NAIVE_DATABASE_URL": "sqlite://",
        "NAIVE_BROKER_URL": "memory://",
        "NAIVE_PLIVO_BASE_URL": sim.url,
        "NAIVE_PLIVO_AUTH_ID": sim.config.auth_id,
        "NAIVE_PLIVO_AUTH_TOKEN": sim.config.auth_token,
        "NAIVE_PLIVO_FROM": "+14155550000",
        "NAIVE_PUBLIC_URL": PUBLIC_URL,
        "NAIVE_API_TOKEN": TOKEN,
        "NAIVE_ONCALL_NUMBER": "+14155550199",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    tasks.config.cache_clear()
    tasks.client_for.cache_clear()
    yield app.test_client()
    tasks.config.cache_clear()
    tasks.client_for.cache_clear()


def sent_sms(sim: RunningSimulator) -> list[dict]:
    return [r for r in sim.state.requests() if r["path"].endswith("/Message/")]


def post(client: FlaskClient, body: object, token: str = TOKEN):
    return client.post("/api/v1/alerts", json=body, headers={"Authorization": f"Bearer {token}"})


def test_an_alert_is_paged_once_per_recipient_before_the_answer(client, sim) -> None:
    answer = post(client, {"summary": "disk full", "recipients": ["+14155550101", "+14155550102"]})
    assert answer.status_code == 202
    assert answer.get_json()["sent"] == 2
    assert answer.get_json()["id"] == 0  # the client reads an id; nothing was stored
    bodies = [r["body"] for r in sent_sms(sim)]
    assert sorted(b["dst"] for b in bodies) == ["14155550101", "14155550102"]
    assert {b["text"] for b in bodies} == {"disk full"}
    assert {b["url"] for b in bodies} == {f"{PUBLIC_URL}{STATUS_PATH}"}


def test_a_wrong_token_or_a_bad_body_is_refused_and_pages_nobody(client, sim) -> None:
    assert post(client, {"summary": "x", "recipients": ["+1415"]}, token="guess").status_code == 401
    refused = post(client, {"recipients": ["+14155550101"]})
    assert refused.status_code == 422
    assert "summary" in refused.get_json()["error"]
    assert post(client, {"summary": "x", "recipients": "+1415"}).status_code == 422
    assert sent_sms(sim) == []


def test_delivery_reports_are_answered_only_when_signed(client, sim) -> None:
    params = {"MessageUUID": "abc", "Status": "delivered"}
    url = f"{PUBLIC_URL}{STATUS_PATH}"
    signed = sign_request_headers(sim.config.auth_token, url, params)
    assert client.post(STATUS_PATH, data=params, headers=signed).status_code == 200
    forged = sign_request_headers("not-the-token", url, params)
    assert client.post(STATUS_PATH, data=params, headers=forged).status_code == 403


def ingested(rate: float) -> Ingested:
    return Ingested(rate, stats.latency([0.01]), 0, 0.1, 0.0, None, 0)


def test_the_floor_row_says_when_the_goal_is_above_the_floor() -> None:
    low = floor_row(ingested(230.0), ingested(200.0))
    assert (low.project, low.naive) == ("230/s", "200/s")
    assert low.ratio.startswith("1.15x")
    assert f"{SINGLES_RATIO_GOAL}x is above this floor" in low.goal
    high = floor_row(ingested(400.0), ingested(200.0))
    assert high.goal == ""
