"""A policy step that calls people into the incident bridge, through real processes.

Receiver, worker and the Plivo simulator as deployed (`cli.stack`), the bridge
recorded (INCIDENT_BRIDGE_RECORD) and the keypress offer off (INCIDENT_BRIDGE
unset): the step's `bridge: true` alone must put the people it calls into the
alert's conference, and whoever is in it must be told who joined. The
simulator answers both calls, presses nothing, and plays the room; what each
person heard and what was recorded is read back from the simulator and from
the API.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from cli.stack import Stack, StackConfig
from shared.notifications.voice_xml import say_digits
from tests.polling import wait_for

ALICE, BOB, CAROL = "+14155550181", "+14155550182", "+14155550183"
ONCALL = f"""
contacts:
  alice: {{phone: "{ALICE}", channels: [voice]}}
  bob:   {{phone: "{BOB}", channels: [voice]}}
  carol: {{phone: "{CAROL}", channels: [sms]}}
teams:
  responders: {{members: [alice, bob]}}
policies:
  bridged:
    steps:
      - {{targets: [responders], channels: [voice], bridge: true, wait: 10m}}
      - {{targets: [carol], channels: [sms], wait: 10m}}
default_policy: bridged
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, stack_broker: str):
    data_dir: Path = tmp_path_factory.mktemp("bridge-step")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(ONCALL)
    config = StackConfig(
        data_dir=data_dir,
        redis_url=stack_broker,
        extra_env={"CONFIG_FILE": str(config_file), "INCIDENT_BRIDGE_RECORD": "true"},
    )
    with Stack(config) as running:
        running.wait_for_workers()
        yield running


def api(stack: Stack, path: str) -> dict:
    headers = {"Authorization": f"Bearer {stack.config.api_token}"}
    response = requests.get(f"{stack.web_url}{path}", headers=headers, timeout=10)
    response.raise_for_status()
    return response.json()


def bridge_events(stack: Stack, alert_id: int, kind: str) -> list[dict]:
    timeline = api(stack, f"/api/v1/alerts/{alert_id}")["timeline"]
    return [entry for entry in timeline if entry["kind"] == kind]


def room(stack: Stack, name: str) -> dict | None:
    rooms = requests.get(f"{stack.simulator_url}/_sim/conferences", timeout=5).json()
    return next((r for r in rooms if r["name"] == name), None)


def test_a_bridge_step_calls_both_responders_into_one_recorded_conference(stack):
    for number, delay in ((ALICE, 0.1), (BOB, 2.0)):  # answer, press nothing; bob later
        requests.post(
            f"{stack.simulator_url}/_sim/scenarios",
            json={"number": number, "voice": "answer", "answer_delay_s": delay},
            timeout=5,
        ).raise_for_status()
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json={"summary": "checkout errors", "severity": "critical", "source": "prometheus"},
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    alert_id = response.json()["id"]
    name = f"alert-{alert_id}"

    joined = wait_for(
        lambda: len(found := bridge_events(stack, alert_id, "bridge.joined")) == 2 and found,
        what="both responders in the bridge",
    )
    assert sorted(e["detail"]["who"] for e in joined) == ["alice", "bob"]
    assert {e["detail"]["conference"] for e in joined} == {name}
    assert len({e["detail"]["ConferenceUUID"] for e in joined}) == 1  # one room, both in it
    live = room(stack, name)
    assert live is not None and len(live["members"]) == 2 and live["recording"]

    requests.post(f"{stack.simulator_url}/_sim/conferences/{name}/end", timeout=5)
    [recording] = wait_for(
        lambda: bridge_events(stack, alert_id, "bridge.recording"), what="the recording"
    )
    assert recording["detail"]["RecordUrl"].startswith("https://")
    assert recording["detail"]["duration_s"] >= 1
    left = wait_for(
        lambda: len(found := bridge_events(stack, alert_id, "bridge.left")) == 2 and found,
        what="both left",
    )
    assert sorted(e["detail"]["who"] for e in left) == ["alice", "bob"]

    view = api(stack, f"/api/v1/alerts/{alert_id}")
    assert view["bridge"]["recordings"][0]["url"] == recording["detail"]["RecordUrl"]
    assert sorted(m["who"] for m in view["bridge"]["members"]) == ["alice", "bob"]
    # Joining is not acknowledging: the alert is still open and the chain still runs.
    assert view["status"] == "triggered"
    calls = {
        c["to"]: c for c in requests.get(f"{stack.simulator_url}/_sim/calls", timeout=5).json()
    }
    heard = {number: calls[number.lstrip("+")] for number in (ALICE, BOB)}
    for number, person in ((ALICE, "alice"), (BOB, "bob")):
        call = heard[number]
        assert call["conferences"] == [name] and call["digits"] == []
        spoken = " ".join(call["spoken"])
        assert (
            f"Critical alert on prometheus. checkout errors. Alert {say_digits(alert_id)}."
            in spoken
        )
        assert f"as {person}. This bridge is recorded." in spoken
        assert "Press 1" not in spoken  # no menu: straight in
    # Each heard who was there already: nobody for alice, alice for bob; and alice,
    # in the room, was told when bob joined (he was not told his own name).
    assert "Nobody else is in the bridge yet." in heard[ALICE]["spoken"][0]
    assert "Already in the bridge: alice." in heard[BOB]["spoken"][0]
    assert "bob joined the incident bridge." in heard[ALICE]["spoken"]
    assert not any("joined the incident bridge." in said for said in heard[BOB]["spoken"])
    notifications = [n for n in view["notifications"] if n["channel"] == "voice"]
    assert {n["state"] for n in notifications} == {"delivered"}
