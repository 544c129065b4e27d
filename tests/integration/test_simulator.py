"""The Plivo simulator over real HTTP, checked against Plivo's reference bodies.

A small receiver app plays the application: it records every callback and
checks its V3 signature with the project's own verifier, and serves the voice
XML a pager would serve. All waiting is polling with generous deadlines; timing
assertions use the times the simulator recorded, not the test's wall clock.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from shared.plivo.signature import verify_v2, verify_v3
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.polling import wait_for as poll

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "plivo"
AUTH_ID = "MASIMULATOR000000000"
TOKEN = "simulator-auth-token"
AUTH = (AUTH_ID, TOKEN)
FROM = "+14155550000"


def reference(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


wait_for = partial(poll, timeout=10.0, interval=0.02)


# -- the application side ------------------------------------------------------

ANSWER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <GetInput action="{base}/ack?alert=7" method="POST" inputType="dtmf" numDigits="1"
            executionTimeout="15" digitEndTimeout="5" redirect="true">
    <Speak voice="WOMAN" language="en-US">Alert 7. Press 1 to acknowledge.</Speak>
  </GetInput>
  <Speak>No input received. Goodbye.</Speak>
</Response>"""

ACK_XML = "<Response><Speak>Acknowledged.</Speak><Hangup/></Response>"
VOICEMAIL_XML = "<Response><Speak>Alert 7, text 1 A.</Speak><Hangup/></Response>"


class Receiver:
    """Records signed callbacks; serves answer/action XML; `/flaky` fails once."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flaky_seen = 0
        app = Flask("receiver")
        app.add_url_rule("/<path:name>", "any", self._handle, methods=["GET", "POST"])
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _handle(self, name: str) -> tuple[str, int, dict[str, str]] | tuple[str, int]:
        params = dict(request.form) if request.method == "POST" else {}
        entry = {
            "path": "/" + name,
            "method": request.method,
            "args": dict(request.args),
            "form": params,
            "v3_ok": verify_v3(
                TOKEN,
                request.url,
                request.headers.get("X-Plivo-Signature-V3-Nonce"),
                params,
                request.headers.get("X-Plivo-Signature-V3"),
                request.method,
            ),
            "v2_ok": verify_v2(
                TOKEN,
                request.url,
                request.headers.get("X-Plivo-Signature-V2-Nonce"),
                request.headers.get("X-Plivo-Signature-V2"),
            ),
        }
        with self._lock:
            self.records.append(entry)
            if name == "flaky":
                self._flaky_seen += 1
                if self._flaky_seen == 1:
                    return "try again", 500
        if name == "answer":
            return ANSWER_XML.format(base=self.url), 200, {"Content-Type": "application/xml"}
        if name == "ack":
            return ACK_XML, 200, {"Content-Type": "application/xml"}
        if name == "voicemail":
            return VOICEMAIL_XML, 200, {"Content-Type": "application/xml"}
        if name == "broken":
            return "down", 503
        if name == "loop":
            xml = f"<Response><Speak>again</Speak><Redirect>{self.url}/loop</Redirect></Response>"
            return xml, 200, {"Content-Type": "application/xml"}
        return "ok", 200

    def at(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.records if r["path"] == path]

    def clear(self) -> None:
        with self._lock:
            self.records.clear()
            self._flaky_seen = 0

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def module_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def receiver(module_receiver: Receiver) -> Receiver:
    module_receiver.clear()
    return module_receiver


@pytest.fixture
def make_sim() -> Iterator[Callable[..., RunningSimulator]]:
    started: list[RunningSimulator] = []

    def start(**overrides: Any) -> RunningSimulator:
        running = start_in_thread(SimulatorConfig(**overrides))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def sim(make_sim: Callable[..., RunningSimulator]) -> RunningSimulator:
    return make_sim()


def send_sms(sim: RunningSimulator, dst: str, **extra: Any) -> requests.Response:
    body = {"src": FROM, "dst": dst, "text": "ALERT 7: disk full on db1", **extra}
    return requests.post(f"{sim.api_root}/Message/", json=body, auth=AUTH, timeout=5)


def place_call(sim: RunningSimulator, to: str, **extra: Any) -> requests.Response:
    body = {"from": FROM, "to": to, **extra}
    return requests.post(f"{sim.api_root}/Call/", json=body, auth=AUTH, timeout=5)


def set_scenario(sim: RunningSimulator, **body: Any) -> None:
    requests.post(f"{sim.url}/_sim/scenarios", json=body, timeout=5).raise_for_status()


# -- SMS -----------------------------------------------------------------------


def test_send_answer_has_exactly_the_reference_keys(sim: RunningSimulator) -> None:
    response = send_sms(sim, "+14155550101")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == set(reference("messageSendResponse.json"))
    assert body["message"] == "message(s) queued"
    assert len(body["message_uuid"]) == 1


def test_get_message_has_reference_keys_and_current_state(sim: RunningSimulator) -> None:
    [uuid] = send_sms(sim, "14155550101").json()["message_uuid"]
    url = f"{sim.api_root}/Message/{uuid}/"

    def delivered() -> dict[str, Any] | None:
        body = requests.get(url, auth=AUTH, timeout=5).json()
        return body if body["message_state"] == "delivered" else None

    body = wait_for(delivered, what="message delivered")
    assert set(reference("messageGetResponse.json")) <= set(body)
    assert body["message_uuid"] == uuid
    assert (body["to_number"], body["from_number"]) == ("14155550101", "14155550000")
    assert body["error_code"] == "000"
    missing = requests.get(f"{sim.api_root}/Message/no-such-uuid/", auth=AUTH, timeout=5)
    assert missing.status_code == 404
    assert set(missing.json()) == {"api_id", "error"}


def test_message_list_is_shaped_like_the_reference(sim: RunningSimulator) -> None:
    send_sms(sim, "14155550101<14155550102<14155550103")
    body = requests.get(f"{sim.api_root}/Message/?limit=2", auth=AUTH, timeout=5).json()
    ref = reference("messageListResponse.json")
    assert set(ref["meta"]) <= set(body["meta"])
    assert body["meta"]["total_count"] == 3 and len(body["objects"]) == 2
    assert body["meta"]["next"].endswith("?limit=2&offset=2")
    assert set(ref["objects"][0]) <= set(body["objects"][0])


def test_status_callbacks_are_signed_in_order_and_keep_the_query(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    callback = f"{receiver.url}/sms-status?n=42&tag=a%20b"
    [uuid] = send_sms(sim, "+14155550101", url=callback).json()["message_uuid"]
    records = wait_for(lambda: len(receiver.at("/sms-status")) >= 3 and receiver.at("/sms-status"))
    assert [r["form"]["Status"] for r in records] == ["queued", "sent", "delivered"]
    for record in records:
        assert record["v3_ok"] and record["v2_ok"]
        assert record["args"] == {"n": "42", "tag": "a b"}
        form = record["form"]
        assert form["MessageUUID"] == uuid
        assert (form["To"], form["From"], form["Type"]) == ("14155550101", "14155550000", "sms")
        assert "ErrorCode" not in form
        for key in (
            "Units",
            "TotalRate",
            "TotalAmount",
            "MCC",
            "MNC",
            "MessageTime",
            "QueuedTime",
            "SentTime",
            "DeliveryReportTime",
        ):
            assert key in form
    assert records[-1]["form"]["DeliveryReportTime"]


def test_undelivered_scenario_reports_error_code_80(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    set_scenario(sim, number="+14155550199", sms="undelivered:80")
    [uuid] = send_sms(sim, "14155550199", url=f"{receiver.url}/sms-status").json()["message_uuid"]
    records = wait_for(lambda: len(receiver.at("/sms-status")) >= 3 and receiver.at("/sms-status"))
    assert [r["form"]["Status"] for r in records] == ["queued", "sent", "undelivered"]
    assert records[-1]["form"]["ErrorCode"] == "80"
    assert all(r["v3_ok"] for r in records)
    body = requests.get(f"{sim.api_root}/Message/{uuid}/", auth=AUTH, timeout=5).json()
    assert (body["message_state"], body["error_code"]) == ("undelivered", "80")


def test_duplicate_final_callback_when_configured(
    make_sim: Callable[..., RunningSimulator], receiver: Receiver
) -> None:
    sim = make_sim(duplicate_final_callback=True)
    send_sms(sim, "14155550101", url=f"{receiver.url}/sms-status")
    records = wait_for(lambda: len(receiver.at("/sms-status")) >= 4 and receiver.at("/sms-status"))
    assert [r["form"]["Status"] for r in records] == ["queued", "sent", "delivered", "delivered"]


def test_failed_scenario_skips_sent(sim: RunningSimulator, receiver: Receiver) -> None:
    set_scenario(sim, number="14155550198", sms="failed:50")
    send_sms(sim, "14155550198", url=f"{receiver.url}/sms-status")
    records = wait_for(lambda: len(receiver.at("/sms-status")) >= 2 and receiver.at("/sms-status"))
    assert [r["form"]["Status"] for r in records] == ["queued", "failed"]
    assert records[-1]["form"]["ErrorCode"] == "50"


def test_no_callback_scenario_stays_sent_in_silence(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    set_scenario(sim, number="14155550197", sms="no-callback")
    [uuid] = send_sms(sim, "14155550197", url=f"{receiver.url}/sms-status").json()["message_uuid"]
    url = f"{sim.api_root}/Message/{uuid}/"
    wait_for(lambda: requests.get(url, auth=AUTH, timeout=5).json()["message_state"] == "sent")
    wait_for(
        lambda: requests.get(f"{sim.url}/_sim/health", timeout=5).json()["pending_events"] == 0
    )
    assert receiver.at("/sms-status") == []


def test_get_callbacks_carry_signed_params_in_the_query(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    send_sms(sim, "14155550101", url=f"{receiver.url}/sms-get?n=9", method="GET")
    records = wait_for(lambda: len(receiver.at("/sms-get")) >= 3 and receiver.at("/sms-get"))
    assert [r["args"]["Status"] for r in records] == ["queued", "sent", "delivered"]
    assert all(r["method"] == "GET" and r["args"]["n"] == "9" and r["v3_ok"] for r in records)


def test_shuffled_callbacks_all_arrive(
    make_sim: Callable[..., RunningSimulator], receiver: Receiver
) -> None:
    sim = make_sim(shuffle_callbacks=True, seed=3)
    send_sms(sim, "14155550101", url=f"{receiver.url}/sms-status")
    records = wait_for(lambda: len(receiver.at("/sms-status")) >= 3 and receiver.at("/sms-status"))
    assert sorted(r["form"]["Status"] for r in records) == ["delivered", "queued", "sent"]
    assert all(r["v3_ok"] for r in records)


def test_failed_callback_is_retried_once(sim: RunningSimulator, receiver: Receiver) -> None:
    send_sms(sim, "14155550101", url=f"{receiver.url}/flaky")
    records = wait_for(lambda: len(receiver.at("/flaky")) >= 4 and receiver.at("/flaky"))
    assert [r["form"]["Status"] for r in records] == ["queued", "queued", "sent", "delivered"]
    log = requests.get(f"{sim.url}/_sim/callbacks", timeout=5).json()
    assert [(c["attempt"], c["status"]) for c in log[:2]] == [(1, 500), (2, 200)]


def test_bad_credentials_are_401(sim: RunningSimulator) -> None:
    body = {"src": FROM, "dst": "14155550101", "text": "x"}
    root = sim.api_root
    wrong_token = requests.post(f"{root}/Message/", json=body, auth=(AUTH_ID, "nope"), timeout=5)
    no_auth = requests.post(f"{root}/Message/", json=body, timeout=5)
    other_id = "MAOTHERACCOUNT000000"
    wrong_path = requests.post(
        f"{sim.url}/v1/Account/{other_id}/Message/", json=body, auth=AUTH, timeout=5
    )
    for response in (wrong_token, no_auth, wrong_path):
        assert response.status_code == 401
        assert set(response.json()) == {"api_id", "error"}
    logged = requests.get(f"{sim.url}/_sim/requests", timeout=5).json()
    assert [r["auth_ok"] for r in logged] == [False, False, False]
    assert requests.get(f"{sim.url}/_sim/messages", timeout=5).json() == []


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"src": FROM, "powerpack_uuid": "pp-1", "dst": "14155550101", "text": "x"}, "src"),
        ({"dst": "14155550101", "text": "x"}, "src"),
        ({"src": FROM, "text": "x"}, "dst"),
        ({"src": FROM, "dst": "14155550101"}, "text"),
        ({"src": FROM, "dst": "14155550101", "text": "x" * 1601}, "1600"),
    ],
)
def test_invalid_sends_are_400(sim: RunningSimulator, body: dict[str, Any], fragment: str) -> None:
    response = requests.post(f"{sim.api_root}/Message/", json=body, auth=AUTH, timeout=5)
    assert response.status_code == 400
    assert set(response.json()) == {"api_id", "error"}
    assert fragment in response.json()["error"]


def test_powerpack_send_is_accepted(sim: RunningSimulator) -> None:
    body = {"powerpack_uuid": "pp-1", "dst": "14155550101", "text": "x"}
    response = requests.post(f"{sim.api_root}/Message/", json=body, auth=AUTH, timeout=5)
    assert response.status_code == 202


def test_bulk_send_drops_duplicates_and_reports_invalid_numbers(sim: RunningSimulator) -> None:
    response = send_sms(sim, "14155550101<+14155550101<14155550102<12<not-a-number")
    assert response.status_code == 202
    body = response.json()
    assert len(body["message_uuid"]) == 2
    assert body["invalid_number"] == ["12", "not-a-number"]
    messages = requests.get(f"{sim.url}/_sim/messages", timeout=5).json()
    assert sorted(m["dst"] for m in messages) == ["14155550101", "14155550102"]


def test_sms_are_sent_at_most_five_per_second(sim: RunningSimulator) -> None:
    numbers = [f"1415555{n:04d}" for n in range(200, 215)]
    response = send_sms(sim, "<".join(numbers))
    assert response.status_code == 202 and len(response.json()["message_uuid"]) == 15

    def all_sent() -> list[float] | None:
        messages = requests.get(f"{sim.url}/_sim/messages", timeout=5).json()
        times = [m["sent_time"] for m in messages]
        return sorted(times) if all(t is not None for t in times) else None

    sent = wait_for(all_sent, timeout=15, what="15 messages sent")
    assert sent[-1] - sent[0] >= 2.0
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= 0.15


# -- API limits and faults -----------------------------------------------------


def test_api_rate_limit_answers_429(make_sim: Callable[..., RunningSimulator]) -> None:
    sim = make_sim(api_requests_per_5s=5)
    statuses = [
        requests.get(f"{sim.api_root}/Message/", auth=AUTH, timeout=5).status_code for _ in range(7)
    ]
    assert statuses == [200] * 5 + [429] * 2
    limited = requests.get(f"{sim.api_root}/Message/", auth=AUTH, timeout=5)
    assert limited.json()["error"] == "rate_limit_exceeded"
    assert set(limited.json()) == {"api_id", "error"}


def test_injected_503_then_cleared(sim: RunningSimulator) -> None:
    fault = {"status": 503, "rate": 1.0, "duration_s": 30, "latency_ms": 0, "paths": "Message"}
    requests.post(f"{sim.url}/_sim/faults", json=fault, timeout=5).raise_for_status()
    failed = send_sms(sim, "14155550101")
    assert failed.status_code == 503
    assert set(failed.json()) == {"api_id", "error"}
    calls = requests.get(f"{sim.api_root}/Call/", auth=AUTH, timeout=5)
    assert calls.status_code == 200  # the fault only covers Message paths
    assert requests.get(f"{sim.url}/_sim/messages", timeout=5).json() == []
    requests.delete(f"{sim.url}/_sim/faults", timeout=5).raise_for_status()
    assert send_sms(sim, "14155550101").status_code == 202


def test_a_fault_on_one_method_leaves_the_other_alone(sim: RunningSimulator) -> None:
    fault = {"status": 503, "paths": "Message", "methods": "post"}
    requests.post(f"{sim.url}/_sim/faults", json=fault, timeout=5).raise_for_status()
    assert send_sms(sim, "14155550101").status_code == 503
    listed = requests.get(f"{sim.api_root}/Message/", auth=AUTH, timeout=5)
    assert listed.status_code == 200  # a look-up of the same path is not covered
    refused = requests.post(f"{sim.url}/_sim/faults", json={**fault, "methods": "PUT"}, timeout=5)
    assert refused.status_code == 400 and "methods" in refused.json()["error"]
    requests.delete(f"{sim.url}/_sim/faults", timeout=5).raise_for_status()


def test_timeout_after_receive_creates_the_message_but_times_out(
    make_sim: Callable[..., RunningSimulator],
) -> None:
    sim = make_sim(stall_seconds=3.0)
    fault = {"timeout_after_receive": True, "paths": ["Message"]}
    requests.post(f"{sim.url}/_sim/faults", json=fault, timeout=5).raise_for_status()
    body = {"src": FROM, "dst": "14155550177", "text": "did it go?"}
    with pytest.raises(requests.ReadTimeout):
        requests.post(f"{sim.api_root}/Message/", json=body, auth=AUTH, timeout=(2, 0.5))
    messages = requests.get(f"{sim.url}/_sim/messages", timeout=5).json()
    assert [m["dst"] for m in messages] == ["14155550177"]
    [logged] = requests.get(f"{sim.url}/_sim/requests", timeout=5).json()
    assert logged["stalled"] and logged["status"] == 202
    assert logged["response"]["message_uuid"] == [messages[0]["uuid"]]


# -- voice ---------------------------------------------------------------------


def call_urls(receiver: Receiver) -> dict[str, str]:
    return {"answer_url": f"{receiver.url}/answer", "hangup_url": f"{receiver.url}/hangup"}


def test_call_create_and_get_match_reference_keys(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    response = place_call(sim, "14155550101", **call_urls(receiver))
    assert response.status_code == 201
    body = response.json()
    assert set(body) == set(reference("callCreateResponse.json"))
    assert body["message"] == "call fired"
    [hangup] = wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    assert hangup["form"]["RequestUUID"] == body["request_uuid"]
    call_uuid = hangup["form"]["CallUUID"]
    got = requests.get(f"{sim.api_root}/Call/{call_uuid}/", auth=AUTH, timeout=5)
    assert got.status_code == 200
    assert set(reference("callGetResponse.json")) <= set(got.json())
    assert got.json()["call_uuid"] == call_uuid and got.json()["call_duration"] >= 1


def test_call_missing_answer_url_is_400_naming_it(sim: RunningSimulator) -> None:
    response = place_call(sim, "14155550101")
    assert response.status_code == 400
    assert "answer_url" in response.json()["error"]


def test_answered_call_presses_1_on_the_action_url(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    set_scenario(sim, number="+14155550150", voice="answer:1", answer_delay_s=0.1)
    request_uuid = place_call(sim, "14155550150", **call_urls(receiver)).json()["request_uuid"]
    [hangup] = wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    paths = [r["path"] for r in receiver.records]
    assert paths == ["/answer", "/ack", "/hangup"]
    [answer] = receiver.at("/answer")
    assert answer["form"]["Event"] == "StartApp"
    assert answer["form"]["CallStatus"] == "in-progress"
    assert answer["form"]["Direction"] == "outbound"
    assert answer["form"]["RequestUUID"] == request_uuid
    [ack] = receiver.at("/ack")
    assert ack["args"] == {"alert": "7"}
    assert (ack["form"]["Digits"], ack["form"]["InputType"]) == ("1", "dtmf")
    assert ack["form"]["CallUUID"] == answer["form"]["CallUUID"]
    assert hangup["form"]["CallStatus"] == "completed"
    assert hangup["form"]["HangupCause"] == "NORMAL_CLEARING"
    assert hangup["form"]["AnswerTime"] and int(hangup["form"]["Duration"]) >= 1
    assert all(r["v3_ok"] and r["v2_ok"] for r in receiver.records)
    [call] = requests.get(f"{sim.url}/_sim/calls", timeout=5).json()
    assert call["digits"] == ["1"]
    assert call["spoken"] == ["Alert 7. Press 1 to acknowledge.", "Acknowledged."]
    assert [x["kind"] for x in call["xml"]] == ["voice:answer", "voice:action"]


def test_unanswered_call_only_reports_hangup(sim: RunningSimulator, receiver: Receiver) -> None:
    set_scenario(sim, number="14155550151", voice="no-answer", answer_delay_s=0.1)
    place_call(sim, "14155550151", **call_urls(receiver))
    [hangup] = wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    form = hangup["form"]
    assert (form["CallStatus"], form["HangupCause"]) == ("no-answer", "NO_ANSWER")
    assert (form["AnswerTime"], form["Duration"]) == ("", "0")
    assert hangup["v3_ok"]
    time.sleep(0.2)
    assert receiver.at("/answer") == []


MACHINE_REPORT_KEYS = {
    "From",
    "Machine",
    "To",
    "RequestUUID",
    "ALegRequestUUID",
    "CallUUID",
    "IfMachine",
    "Direction",
    "ALegUUID",
    "Event",
    "CallStatus",
}


def detect(receiver: Receiver, mode: str = "true", **extra: Any) -> dict[str, Any]:
    """Asynchronous detection (a machine_detection_url), as the pager asks for it."""
    return {
        "machine_detection": mode,
        "machine_detection_time": 2000,
        "machine_detection_url": f"{receiver.url}/machine",
        **call_urls(receiver),
        **extra,
    }


def sent_at(sim: RunningSimulator, kind: str) -> float:
    """When the simulator began the one callback of `kind`. It logs a callback once the
    receiver has answered it, so the receiver may hold it a moment before the log does."""

    def logged() -> list[dict[str, Any]]:
        found = requests.get(f"{sim.url}/_sim/callbacks", timeout=5).json()
        return [c for c in found if c["kind"] == kind]

    [entry] = wait_for(logged, what=f"{kind} callback in the simulator's log")
    return entry["time"]


def test_async_detection_reports_a_machine_after_the_answer_while_the_call_plays_on(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    set_scenario(
        sim,
        number="14155550152",
        voice="machine",
        answer_delay_s=0.1,
        input_delay_s=1,
        detection_delay_s=0.3,
    )
    place_call(sim, "14155550152", **detect(receiver))
    wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    assert [r["path"] for r in receiver.records] == ["/answer", "/machine", "/hangup"]
    [answer] = receiver.at("/answer")
    assert "Machine" not in answer["form"]  # fetched at once, before any verdict
    [machine] = receiver.at("/machine")
    form = machine["form"]
    assert set(form) == MACHINE_REPORT_KEYS and machine["v3_ok"]
    assert (form["Machine"], form["Event"], form["IfMachine"]) == (
        "true",
        "MachineDetection",
        "continue",
    )
    assert (form["CallStatus"], form["Direction"]) == ("in-progress", "outbound")
    assert form["CallUUID"] == form["ALegUUID"] == answer["form"]["CallUUID"]
    call = sim_call(sim, "14155550152")
    assert 0.3 <= sent_at(sim, "voice:machine") - call["answer_time"] < 1.0
    assert call["machine"] and call["machine_detected"] and call["digits"] == []
    assert "No input received. Goodbye." in call["spoken"]  # nobody moved the call


def test_detection_takes_at_most_machine_detection_time(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    # No delay of its own: the verdict comes at the end of the 2 s window.
    set_scenario(sim, number="14155550155", voice="machine", answer_delay_s=0.1, input_delay_s=3)
    place_call(sim, "14155550155", **detect(receiver))
    wait_for(lambda: receiver.at("/machine"), what="machine report")
    call = sim_call(sim, "14155550155")
    assert 2.0 <= sent_at(sim, "voice:machine") - call["answer_time"] < 2.5
    wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    # A greeting that needs longer than the window is never recognised.
    receiver.clear()
    set_scenario(
        sim,
        number="14155550156",
        voice="machine",
        answer_delay_s=0.1,
        input_delay_s=2.5,
        detection_delay_s=3,
    )
    place_call(sim, "14155550156", **detect(receiver))
    wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    assert [r["path"] for r in receiver.records] == ["/answer", "/hangup"]
    assert not sim_call(sim, "14155550156")["machine_detected"]


def test_machine_detection_hangup_reports_then_hangs_up(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    set_scenario(
        sim,
        number="14155550153",
        voice="machine",
        answer_delay_s=0.1,
        input_delay_s=2,
        detection_delay_s=0.2,
    )
    place_call(sim, "14155550153", **detect(receiver, "hangup"))
    [hangup] = wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    assert [r["path"] for r in receiver.records] == ["/answer", "/machine", "/hangup"]
    assert receiver.at("/machine")[0]["form"]["IfMachine"] == "hangup"
    assert (hangup["form"]["Machine"], hangup["form"]["CallStatus"]) == ("true", "completed")
    assert sim_call(sim, "14155550153")["end_time"] - sent_at(sim, "voice:machine") < 1.0


def test_sync_detection_answers_with_the_verdict(sim: RunningSimulator, receiver: Receiver) -> None:
    sync = {"machine_detection_time": 2000, **call_urls(receiver)}
    set_scenario(sim, number="14155550157", voice="machine", detection_delay_s=0.3)
    set_scenario(sim, number="14155550158", voice="answer:1", detection_delay_s=0.3)
    set_scenario(sim, number="14155550159", voice="machine", detection_delay_s=0.3)
    place_call(sim, "14155550157", machine_detection="true", **sync)
    place_call(sim, "14155550158", machine_detection="true", **sync)
    place_call(sim, "14155550159", machine_detection="hangup", **sync)
    wait_for(lambda: len(receiver.at("/hangup")) == 3, what="three hangups")
    verdicts = {r["form"]["To"]: r["form"]["Machine"] for r in receiver.at("/answer")}
    assert verdicts == {"14155550157": "true", "14155550158": "false"}  # the third: hung up
    [hung_up] = [r for r in receiver.at("/hangup") if r["form"]["To"] == "14155550159"]
    assert hung_up["form"]["Machine"] == "true"
    fetches = requests.get(f"{sim.url}/_sim/callbacks", timeout=5).json()
    for number in ("14155550157", "14155550158"):
        [fetch] = [
            c for c in fetches if c["kind"] == "voice:answer" and c["params"]["To"] == number
        ]
        # The answer URL waited for the verdict.
        assert fetch["time"] - sim_call(sim, number)["answer_time"] >= 0.3
    assert receiver.at("/machine") == []


def test_a_transfer_stops_the_prompt_and_plays_the_new_url(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    # The callee would listen 5 s, then press 1: moved before, nothing is pressed.
    set_scenario(sim, number="14155550173", voice="answer:1", answer_delay_s=0.1, input_delay_s=5)
    place_call(sim, "14155550173", **call_urls(receiver))
    [answer] = wait_for(lambda: receiver.at("/answer"), what="answer fetch")
    wait_for(lambda: sim_call(sim, "14155550173")["spoken"], what="prompt spoken")
    call_uuid = answer["form"]["CallUUID"]
    url = f"{sim.api_root}/Call/{call_uuid}/"
    moved = requests.post(
        url,
        json={"legs": "aleg", "aleg_url": f"{receiver.url}/voicemail", "aleg_method": "POST"},
        auth=AUTH,
        timeout=5,
    )
    assert moved.status_code == 202 and moved.json()["message"] == "call transfered"
    wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    assert [r["path"] for r in receiver.records] == ["/answer", "/voicemail", "/hangup"]
    [fetched] = receiver.at("/voicemail")
    assert fetched["v3_ok"] and fetched["form"]["CallUUID"] == call_uuid
    call = sim_call(sim, "14155550173")
    assert call["digits"] == []
    assert call["spoken"] == ["Alert 7. Press 1 to acknowledge.", "Alert 7, text 1 A."]
    assert [x["kind"] for x in call["xml"]] == ["voice:answer", "voice:transfer"]
    body = {"legs": "aleg", "aleg_url": f"{receiver.url}/voicemail"}
    assert requests.post(url, json=body, auth=AUTH, timeout=5).status_code == 404  # over
    bad = requests.post(url, json={"legs": "bleg"}, auth=AUTH, timeout=5)
    assert bad.status_code == 400


def test_failing_answer_url_falls_back(sim: RunningSimulator, receiver: Receiver) -> None:
    place_call(
        sim,
        "14155550154",
        answer_url=f"{receiver.url}/broken",
        fallback_url=f"{receiver.url}/answer",
        hangup_url=f"{receiver.url}/hangup",
    )
    wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    assert [r["path"] for r in receiver.records] == ["/broken", "/broken", "/answer", "/hangup"]


def test_redirect_loops_are_bounded(
    make_sim: Callable[..., RunningSimulator], receiver: Receiver
) -> None:
    sim = make_sim(max_xml_steps=3)
    place_call(
        sim, "14155550155", answer_url=f"{receiver.url}/loop", hangup_url=f"{receiver.url}/hangup"
    )
    wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    assert len(receiver.at("/loop")) == 3
    [call] = requests.get(f"{sim.url}/_sim/calls", timeout=5).json()
    assert call["spoken"] == ["again"] * 3
    assert call["errors"] == ["stopped after 3 XML documents"]


def test_calls_over_the_rate_are_queued(sim: RunningSimulator, receiver: Receiver) -> None:
    body = place_call(sim, "14155550161<14155550162<14155550163", **call_urls(receiver)).json()
    assert body["message"] == "call queued"
    assert len(body["request_uuid"]) == 3
    wait_for(lambda: len(receiver.at("/hangup")) == 3, what="three hangups")
    calls = requests.get(f"{sim.url}/_sim/calls", timeout=5).json()
    rings = sorted(c["ring_time"] for c in calls)
    assert rings[-1] - rings[0] >= 0.9  # 2 calls per second


# -- ending live calls (Live Call API) -----------------------------------------


def delete(sim: RunningSimulator, what: str, uuid: str, auth: Any = AUTH) -> requests.Response:
    return requests.delete(f"{sim.api_root}/{what}/{uuid}/", auth=auth, timeout=5)


def sim_call(sim: RunningSimulator, to: str) -> dict[str, Any]:
    [call] = [c for c in requests.get(f"{sim.url}/_sim/calls", timeout=5).json() if c["to"] == to]
    return call


def test_a_ringing_call_cancelled_by_its_request_uuid_never_answers(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    set_scenario(sim, number="14155550170", voice="answer:1", answer_delay_s=30)
    request_uuid = place_call(sim, "14155550170", **call_urls(receiver)).json()["request_uuid"]
    wait_for(lambda: sim_call(sim, "14155550170")["status"] == "ringing", what="ringing")
    response = delete(sim, "Request", request_uuid)
    assert (response.status_code, response.content) == (204, b"")
    [hangup] = wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    form = hangup["form"]
    assert (form["CallStatus"], form["HangupCause"]) == ("cancel", "ORIGINATOR_CANCEL")
    assert (form["RequestUUID"], form["AnswerTime"], form["Duration"]) == (request_uuid, "", "0")
    assert hangup["v3_ok"]
    call = sim_call(sim, "14155550170")
    assert (call["status"], call["answer_time"], call["xml"]) == ("cancel", None, [])
    again = delete(sim, "Request", request_uuid)
    assert again.status_code == 404 and again.json()["error"] == "not found"
    assert set(again.json()) == {"api_id", "error"}
    logged = [r for r in sim.state.requests() if r["method"] == "DELETE"]
    assert [(r["path"], r["status"], r["auth_ok"]) for r in logged] == [
        (f"/v1/Account/{AUTH_ID}/Request/{request_uuid}/", 204, True),
        (f"/v1/Account/{AUTH_ID}/Request/{request_uuid}/", 404, True),
    ]
    time.sleep(0.2)
    assert [r["path"] for r in receiver.records] == ["/hangup"]


def test_an_answered_call_hung_up_mid_prompt_stops_its_call_flow(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    # The callee would listen 5 s, then press 1: hung up before, nothing is pressed.
    set_scenario(sim, number="14155550171", voice="answer:1", answer_delay_s=0.1, input_delay_s=5)
    request_uuid = place_call(sim, "14155550171", **call_urls(receiver)).json()["request_uuid"]
    [answer] = wait_for(lambda: receiver.at("/answer"), what="answer fetch")
    wait_for(lambda: sim_call(sim, "14155550171")["spoken"], what="prompt spoken")
    # Answered: the request can no longer be cancelled, the call is hung up instead.
    assert delete(sim, "Request", request_uuid).status_code == 404
    asked = time.time()
    response = delete(sim, "Call", answer["form"]["CallUUID"])
    assert (response.status_code, response.content) == (204, b"")
    [hangup] = wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    form = hangup["form"]
    assert (form["CallStatus"], form["HangupCause"]) == ("completed", "NORMAL_CLEARING")
    assert form["AnswerTime"] and int(form["Duration"]) >= 1
    call = sim_call(sim, "14155550171")
    assert call["end_time"] - asked < 1.0
    time.sleep(0.3)
    assert [r["path"] for r in receiver.records] == ["/answer", "/hangup"]
    call = sim_call(sim, "14155550171")
    assert (call["status"], call["digits"]) == ("completed", [])
    assert call["spoken"] == ["Alert 7. Press 1 to acknowledge."]
    assert delete(sim, "Call", answer["form"]["CallUUID"]).status_code == 404


def test_input_delay_keeps_the_callee_listening_before_pressing(
    sim: RunningSimulator, receiver: Receiver
) -> None:
    set_scenario(sim, number="14155550172", voice="answer:1", answer_delay_s=0.1, input_delay_s=0.5)
    place_call(sim, "14155550172", **call_urls(receiver))
    wait_for(lambda: receiver.at("/hangup"), what="hangup callback")
    assert [r["path"] for r in receiver.records] == ["/answer", "/ack", "/hangup"]
    sent = {
        c["kind"]: c["time"] for c in requests.get(f"{sim.url}/_sim/callbacks", timeout=5).json()
    }
    assert sent["voice:action"] - sent["voice:answer"] >= 0.5
    bad = requests.post(
        f"{sim.url}/_sim/scenarios", json={"number": "14155550172", "input_delay_s": -1}, timeout=5
    )
    assert bad.status_code == 400 and "input_delay_s" in bad.json()["error"]


def test_ending_calls_is_authenticated_and_unknown_calls_are_404(sim: RunningSimulator) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    for what in ("Call", "Request"):
        assert delete(sim, what, unknown, auth=(AUTH_ID, "nope")).status_code == 401
        missing = delete(sim, what, unknown)
        assert missing.status_code == 404
        assert missing.json()["error"] == "not found"


# -- inbound and control -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "intent"), [("STOP", "optout"), ("start", "optin"), ("HELP", "help"), ("4A", "")]
)
def test_inbound_sms_is_signed_with_its_intent(
    sim: RunningSimulator, receiver: Receiver, text: str, intent: str
) -> None:
    body = {"from": "+14155550101", "to": FROM, "text": text, "url": f"{receiver.url}/inbound"}
    answer = requests.post(f"{sim.url}/_sim/inbound_sms", json=body, timeout=5).json()
    assert answer["status"] == 200
    [record] = receiver.at("/inbound")
    assert record["v3_ok"]
    form = record["form"]
    assert (form["From"], form["To"], form["Text"], form["Type"]) == (
        "14155550101",
        "14155550000",
        text,
        "sms",
    )
    assert form["MessageIntent"] == intent
    assert {"MessageUUID", "Units", "TotalRate", "TotalAmount"} <= set(form)


def test_bad_scenario_is_400_and_reset_forgets_everything(sim: RunningSimulator) -> None:
    bad = requests.post(
        f"{sim.url}/_sim/scenarios", json={"number": "1415", "sms": "lost"}, timeout=5
    )
    assert bad.status_code == 400
    set_scenario(sim, number="14155550101", sms="failed:50")
    send_sms(sim, "14155550101")
    assert requests.get(f"{sim.url}/_sim/scenarios", timeout=5).json()[0]["sms"] == "failed:50"
    requests.post(f"{sim.url}/_sim/reset", timeout=5).raise_for_status()
    for what in ("messages", "requests", "scenarios", "callbacks", "calls"):
        assert requests.get(f"{sim.url}/_sim/{what}", timeout=5).json() == []
