"""The simulator's WhatsApp template messages and PHLO runs, over real HTTP.

As in test_simulator: a small receiver records every callback and checks its
signatures with the project's own verifier; waits poll with deadlines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import requests

from shared.plivo.channels import WhatsAppTemplate
from shared.plivo.client import PlivoClient
from shared.plivo.errors import PlivoClientError
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.integration.test_simulator import AUTH, FROM, Receiver
from tests.polling import wait_for as poll

wait_for = partial(poll, timeout=10.0, interval=0.02)
PHLO_ID = "4c1a9f23-7f56-4879-bb80-db856e1e7701"
TEMPLATE = {
    "name": "maintenance_notice",
    "language": "en_US",
    "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "DB upgrade"}]},
    ],
}


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


def send_whatsapp(sim: RunningSimulator, dst: str, **body: Any) -> requests.Response:
    payload = {"src": FROM, "dst": dst, "type": "whatsapp", "template": TEMPLATE, **body}
    return requests.post(f"{sim.api_root}/Message/", json=payload, auth=AUTH, timeout=5)


def run_phlo(sim: RunningSimulator, body: Any, *, phlo_id: str = PHLO_ID, **kw: Any):
    url = f"{sim.url}/v1/account/{sim.config.auth_id}/phlo/{phlo_id}"
    return requests.post(url, json=body, auth=kw.get("auth", AUTH), timeout=10)


def phlo_runs(sim: RunningSimulator) -> list[dict[str, Any]]:
    return requests.get(f"{sim.url}/_sim/phlo_runs", timeout=5).json()


# -- WhatsApp ------------------------------------------------------------------


def test_a_template_message_is_queued_sent_delivered_and_read_with_signed_reports(
    make_sim: Callable[..., RunningSimulator], receiver: Receiver
) -> None:
    sim = make_sim()
    answer = send_whatsapp(sim, "+14155550101<+14155550102", url=f"{receiver.url}/wa?nb=7")
    assert answer.status_code == 202
    assert answer.json()["message"] == "message(s) queued"
    first, _second = answer.json()["message_uuid"]

    def mine() -> list[dict[str, Any]]:
        return [r for r in receiver.at("/wa") if r["form"]["MessageUUID"] == first]

    records = wait_for(lambda: len(mine()) >= 4 and mine(), what="four reports")
    assert [r["form"]["Status"] for r in records] == ["queued", "sent", "delivered", "read"]
    assert all(r["v3_ok"] and r["args"] == {"nb": "7"} for r in records)
    form = records[-1]["form"]
    assert (form["Type"], form["To"], form["From"]) == ("whatsapp", "14155550101", "14155550000")
    assert form["ConversationOrigin"] == "utility" and form["ConversationID"]
    assert int(form["ConversationExpirationTimestamp"]) > 0 and "ErrorCode" not in form
    got = requests.get(f"{sim.api_root}/Message/{first}/", auth=AUTH, timeout=5).json()
    assert (got["message_type"], got["message_state"]) == ("whatsapp", "read")


def test_a_failed_and_a_delivered_only_number_report_as_their_scenarios_say(
    make_sim: Callable[..., RunningSimulator], receiver: Receiver
) -> None:
    sim = make_sim(
        scenarios={
            "14155550103": {"whatsapp": "failed:7001"},
            "14155550104": {"whatsapp": "delivered"},
        }
    )
    send_whatsapp(sim, "14155550103<14155550104", url=f"{receiver.url}/wa")

    def finals() -> dict[str, list[str]] | None:
        by_number: dict[str, list[str]] = {}
        for record in receiver.at("/wa"):
            by_number.setdefault(record["form"]["To"], []).append(record["form"]["Status"])
        done = (
            by_number.get("14155550103", [])[-1:] == ["failed"]
            and len(by_number.get("14155550104", [])) >= 3
        )
        return by_number if done else None

    by_number = wait_for(finals, what="final reports")
    assert by_number["14155550103"] == ["queued", "failed"]
    assert by_number["14155550104"] == ["queued", "sent", "delivered"]
    failed = [r for r in receiver.at("/wa") if r["form"]["Status"] == "failed"][0]
    assert failed["form"]["ErrorCode"] == "7001"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"template": None}, "template is required"),
        ({"template": {**TEMPLATE, "name": "not_approved"}}, "not_approved is not an approved"),
        ({"template": {**TEMPLATE, "language": "english"}}, "template.language"),
        (
            {"template": {**TEMPLATE, "components": [{"type": "body", "parameters": [{}]}]}},
            "template.components[0].parameters[0]",
        ),
        ({"src": None, "powerpack_uuid": "pp-1"}, "powerpack_uuid"),
        ({"src": None}, "src is required"),
    ],
)
def test_a_request_plivo_would_refuse_is_answered_400_naming_the_field(
    make_sim: Callable[..., RunningSimulator], change: dict[str, Any], named: str
) -> None:
    sim = make_sim()
    refused = send_whatsapp(sim, "+14155550101", **change)
    assert refused.status_code == 400
    assert named in refused.json()["error"]
    assert sim.state.messages() == []


# -- PHLO ----------------------------------------------------------------------


def test_a_phlo_run_answers_its_id_and_records_how_the_call_went(
    make_sim: Callable[..., RunningSimulator],
) -> None:
    sim = make_sim(scenarios={"14155550106": {"voice": "no-answer"}})
    answers = [
        run_phlo(sim, {"from": FROM, "to": to, "text": "Maintenance tonight"})
        for to in ("+14155550105", "+14155550106")
    ]
    assert [a.status_code for a in answers] == [201, 201]
    body = answers[0].json()
    assert set(body) == {"api_id", "phlo_id", "message"} and body["phlo_id"] == PHLO_ID
    assert f"phlo_run_uuid: {body['api_id']}" in body["message"]

    def ended() -> list[dict[str, Any]] | None:
        runs = phlo_runs(sim)
        return runs if all(r["status"] != "running" for r in runs) else None

    runs = {r["to"]: r for r in wait_for(ended, what="both runs ended")}
    answered, missed = runs["14155550105"], runs["14155550106"]
    assert answered["phlo_run_id"] == body["api_id"]
    assert (answered["status"], answered["outcome"]) == ("completed", "answered")
    assert answered["spoken"] == ["Maintenance tonight"]
    assert answered["payload"] == {
        "from": FROM,
        "to": "+14155550105",
        "text": "Maintenance tonight",
    }
    assert (missed["status"], missed["outcome"]) == ("failed", "no-answer")


def test_phlo_runs_pass_the_same_gate_as_every_api_request(
    make_sim: Callable[..., RunningSimulator],
) -> None:
    sim = make_sim()
    assert run_phlo(sim, {"to": "+14155550105"}, auth=(AUTH[0], "wrong")).status_code == 401
    assert run_phlo(sim, {"to": "+14155550105"}, phlo_id="not-a-phlo").status_code == 404
    missing_to = run_phlo(sim, {"from": FROM})
    assert missing_to.status_code == 400 and "to must be" in missing_to.json()["error"]
    fault = {"status": 503, "paths": ["/phlo/"]}
    requests.post(f"{sim.url}/_sim/faults", json=fault, timeout=5).raise_for_status()
    assert run_phlo(sim, {"to": "+14155550105"}).status_code == 503
    assert send_whatsapp(sim, "+14155550101").status_code == 202  # other paths unharmed
    assert phlo_runs(sim) == []
    # The ambiguous timeout: the run happens, the answer comes too late.
    stall = {"timeout_after_receive": True, "paths": ["/phlo/"]}
    requests.post(f"{sim.url}/_sim/faults", json=stall, timeout=5).raise_for_status()
    with pytest.raises(requests.Timeout):
        url = f"{sim.url}/v1/account/{sim.config.auth_id}/phlo/{PHLO_ID}"
        requests.post(url, json={"to": "+14155550105"}, auth=AUTH, timeout=0.5)
    assert [r["to"] for r in phlo_runs(sim)] == ["14155550105"]


def test_the_client_sends_templates_and_runs_phlos(
    make_sim: Callable[..., RunningSimulator],
) -> None:
    sim = make_sim()
    client = PlivoClient(auth_id=AUTH[0], auth_token=AUTH[1], base_url=sim.url)
    try:
        template = WhatsAppTemplate("maintenance_notice", "en", ("DB upgrade", "2 hours"))
        uuid = client.send_whatsapp_template(template, src=FROM, dst="+14155550101")
        [message] = sim.state.messages()
        assert message.message_uuid == uuid and message.type == "whatsapp"
        assert message.text == "[maintenance_notice] DB upgrade | 2 hours"
        run = client.run_phlo(PHLO_ID, {"from": FROM, "to": "+14155550105"})
        assert [r["phlo_run_id"] for r in phlo_runs(sim)] == [run.phlo_run_id]
        with pytest.raises(PlivoClientError, match="not an approved template"):
            client.send_whatsapp_template(
                WhatsAppTemplate("nope", "en"), src=FROM, dst="+14155550101"
            )
    finally:
        client.close()
