"""The Plivo client against the simulator over real HTTP: results and typed failures."""

import json

import pytest
import requests

from cli.stack import free_port
from shared.plivo.client import PlivoClient
from shared.plivo.errors import (
    PlivoAuthError,
    PlivoClientError,
    PlivoConnectionError,
    PlivoNotFound,
    PlivoRateLimited,
    PlivoServerError,
    PlivoTimeout,
)
from simulator.config import SimulatorConfig
from simulator.server import start_in_thread
from tests.conftest import FIXTURES


@pytest.fixture
def sim():
    with start_in_thread(SimulatorConfig(stall_seconds=3.0, api_requests_per_5s=40)) as running:
        yield running


def client_for(sim, *, token=None, read_timeout=5.0):
    return PlivoClient(
        auth_id=sim.config.auth_id,
        auth_token=token or sim.config.auth_token,
        base_url=sim.url,
        connect_timeout=1.0,
        read_timeout=read_timeout,
    )


def test_send_sms_returns_plivo_uuid_and_message_is_readable(sim):
    client = client_for(sim)
    result = client.send_sms(src="+14155550000", dst="+14155550101", text="disk full")
    assert len(result.message_uuids) == 1 and result.invalid_numbers == []
    message = client.get_message(result.message_uuids[0])
    reference = json.loads((FIXTURES / "plivo" / "messageGetResponse.json").read_text())
    assert set(reference) <= set(message)
    assert message["to_number"] == "14155550101"


def test_bulk_send_joins_with_lt_and_reports_invalid_numbers(sim):
    result = client_for(sim).send_sms(
        src="+14155550000", dst=["+14155550101", "+14155550102"], text="storm"
    )
    assert len(result.message_uuids) == 2
    [request] = [r for r in sim.state.requests() if r["path"].endswith("/Message/")]
    assert request["body"]["dst"] == "14155550101<14155550102"


def test_place_call_returns_request_uuid(sim):
    result = client_for(sim).place_call(
        src="+14155550000", dst="+14155550101", answer_url="http://127.0.0.1:9/answer"
    )
    assert result.request_uuid and result.message in ("call fired", "call queued")


def test_wrong_credentials_raise_auth_error_not_retryable(sim):
    with pytest.raises(PlivoAuthError) as caught:
        client_for(sim, token="wrong").send_sms(src="+14155550000", dst="+14155550101", text="x")
    assert caught.value.status == 401 and not caught.value.retryable


def test_unknown_message_is_not_found(sim):
    with pytest.raises(PlivoNotFound):
        client_for(sim).get_message("00000000-0000-0000-0000-000000000000")


def test_bad_request_is_permanent(sim):
    with pytest.raises(PlivoClientError) as caught:
        client_for(sim).send_sms(src="+14155550000", dst="+14155550101", text="x" * 1601)
    assert caught.value.status == 400 and not caught.value.retryable


def _fault(sim, **fault):
    requests.post(f"{sim.url}/_sim/faults", json=fault, timeout=5).raise_for_status()


def test_server_error_is_retryable_and_not_ambiguous(sim):
    _fault(sim, status=503, rate=1.0, duration_s=30)
    with pytest.raises(PlivoServerError) as caught:
        client_for(sim).send_sms(src="+14155550000", dst="+14155550101", text="x")
    assert caught.value.retryable and not caught.value.ambiguous


def test_rate_limit_is_retryable(sim):
    client = client_for(sim)
    with pytest.raises(PlivoRateLimited) as caught:
        for _ in range(60):
            client.send_sms(src="+14155550000", dst="+14155550101", text="x")
    assert caught.value.status == 429 and caught.value.retryable


def test_timeout_after_plivo_received_is_ambiguous(sim):
    _fault(sim, timeout_after_receive=True, rate=1.0, duration_s=30)
    with pytest.raises(PlivoTimeout) as caught:
        client_for(sim, read_timeout=0.5).send_sms(src="+14155550000", dst="+14155550101", text="x")
    assert caught.value.ambiguous and caught.value.retryable
    # The simulator really did take the message: a blind resend would page twice.
    assert len(sim.state.messages()) == 1


def test_nothing_listening_is_a_safe_connection_error():
    client = PlivoClient(
        auth_id="MASIMULATOR000000000",
        auth_token="t",
        base_url=f"http://127.0.0.1:{free_port()}",
        connect_timeout=0.5,
    )
    with pytest.raises(PlivoConnectionError) as caught:
        client.send_sms(src="+14155550000", dst="+14155550101", text="x")
    assert caught.value.retryable and not caught.value.ambiguous


def _scenario(sim, **body):
    requests.post(f"{sim.url}/_sim/scenarios", json=body, timeout=5).raise_for_status()


def _call_status(sim, request_uuid):
    [call] = [c for c in sim.state.calls() if c.request_uuid == request_uuid]
    return call.status, call.hangup_cause


def test_cancel_call_request_stops_a_ringing_call_once(sim):
    _scenario(sim, number="14155550103", voice="answer:1", answer_delay_s=30)
    client = client_for(sim)
    placed = client.place_call(
        src="+14155550000", dst="+14155550103", answer_url="http://127.0.0.1:9/answer"
    )
    assert client.cancel_call_request(placed.request_uuid) is True
    assert _call_status(sim, placed.request_uuid) == ("cancel", "ORIGINATOR_CANCEL")
    # Already over: nothing left to end, and no error for it.
    assert client.cancel_call_request(placed.request_uuid) is False
    deletes = [r for r in sim.state.requests() if r["method"] == "DELETE"]
    assert [(r["path"].split("/")[-3], r["status"]) for r in deletes] == [
        ("Request", 204),
        ("Request", 404),
    ]


def test_hang_up_call_of_no_live_call_is_false(sim):
    assert client_for(sim).hang_up_call("00000000-0000-0000-0000-000000000000") is False


def test_hang_up_failures_are_typed(sim):
    with pytest.raises(PlivoAuthError):
        client_for(sim, token="wrong").hang_up_call("some-call")
    _fault(sim, status=503, rate=1.0, duration_s=30)
    with pytest.raises(PlivoServerError) as caught:
        client_for(sim).cancel_call_request("some-request")
    assert caught.value.retryable


def test_a_proxy_set_in_the_environment_at_start_carries_every_request(sim, monkeypatch):
    """The proxy variables are read once, when the client is made, and then used for
    every request: a deployment that reaches Plivo through a proxy still does."""
    monkeypatch.setenv("HTTP_PROXY", sim.url)  # the simulator stands in for the proxy
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = PlivoClient(
        auth_id=sim.config.auth_id,
        auth_token=sim.config.auth_token,
        base_url="http://plivo.invalid",  # resolvable only through the proxy
        connect_timeout=1.0,
        read_timeout=5.0,
    )
    monkeypatch.delenv("HTTP_PROXY")  # read at start: later changes do not matter
    for number in ("+14155550103", "+14155550104"):
        result = client.send_sms(src="+14155550000", dst=number, text="via the proxy")
        assert len(result.message_uuids) == 1
    sent = [r["body"]["dst"] for r in sim.state.requests() if r["path"].endswith("/Message/")]
    assert sent == ["14155550103", "14155550104"]
