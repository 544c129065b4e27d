"""The incident bridge and what calls cost, through the Plivo simulator.

A real receiver over HTTP (INCIDENT_BRIDGE and INCIDENT_BRIDGE_RECORD on), a
migrated database and the test Redis; calls are placed at the simulator as
the worker places them, the simulator plays the far ends (keys pressed,
time spent in the conference room), signs every callback as Plivo does and
charges each call by its duration. What people heard and what Plivo was
told is read back from the simulator; what was recorded, from the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from cli.stack import SIMULATOR_AUTH_TOKEN, free_port
from shared.core.db import session_scope
from shared.core.models import Alert, Event, Notification
from shared.core.settings import load_settings
from shared.notifications.voice_xml import say_digits
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.conftest import ServedApp
from tests.integration.test_security_callbacks import (
    OUR_NUMBER,
    metric,
    page,
    rejected,
    replay,
    signed_post,
    voice_params,
)
from tests.polling import wait_for
from webhooks.app import create_app

ALICE, BOB, CAROL = "+14155550911", "+14155550912", "+14155550913"
TOKEN = {"Authorization": "Bearer token-one"}


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    running = start_in_thread(SimulatorConfig())
    yield running
    running.stop()


@pytest.fixture
def app(sim, database_url: str, broker_env: str, tmp_path: Path) -> Iterator[ServedApp]:
    """The receiver with the bridge offered and recorded, its Plivo account the simulator's."""
    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,
        DATA_DIR=str(tmp_path),
        API_TOKENS="token-one",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PLIVO_AUTH_ID=sim.config.auth_id,
        PLIVO_AUTH_TOKEN=SIMULATOR_AUTH_TOKEN,
        PLIVO_BASE_URL=sim.url,
        INCIDENT_BRIDGE=True,
        INCIDENT_BRIDGE_RECORD=True,
    )
    from worker import enqueue

    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    yield served
    served.stop()


def open_alert(url: str, policy: str, source: str = "alertmanager") -> int:
    with session_scope(url) as session:
        alert = Alert(
            summary="checkout errors",
            severity="critical",
            source="prometheus",
            integration=source,
            policy=policy,
            status="triggered",
            escalation="stopped",
        )
        session.add(alert)
        session.flush()
        return alert.id


def call_page(url: str, alert_id: int, contact: str, number: str) -> int:
    """A voice page being placed (the worker has not stored Plivo's uuid yet)."""
    with session_scope(url) as session:
        notification = Notification(
            alert_id=alert_id,
            channel="voice",
            destination=number,
            contact=contact,
            state="sending",
            send_attempts=1,
        )
        session.add(notification)
        session.flush()
        return notification.id


def place_call(sim: RunningSimulator, app: ServedApp, notification_id: int, to: str) -> str:
    """The call as worker.sending.voice places it; its request uuid."""
    hook = f"{app.url}/plivo/voice/{{}}?n={notification_id}"
    response = requests.post(
        f"{sim.api_root}/Call/",
        json={
            "from": OUR_NUMBER,
            "to": to.lstrip("+"),
            "answer_url": hook.format("answer"),
            "hangup_url": hook.format("hangup"),
        },
        auth=(sim.config.auth_id, SIMULATOR_AUTH_TOKEN),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["request_uuid"]


def behave(sim: RunningSimulator, number: str, voice: str) -> None:
    requests.post(
        f"{sim.url}/_sim/scenarios",
        json={"number": number, "voice": voice, "answer_delay_s": 0.1},
        timeout=5,
    ).raise_for_status()


def room(sim: RunningSimulator, name: str) -> dict | None:
    rooms = requests.get(f"{sim.url}/_sim/conferences", timeout=5).json()
    return next((r for r in rooms if r["name"] == name), None)


def sim_calls(sim: RunningSimulator) -> dict[str, dict]:
    return {c["to"]: c for c in requests.get(f"{sim.url}/_sim/calls", timeout=5).json()}


def sim_callbacks(sim: RunningSimulator, kind: str) -> list[dict]:
    callbacks = requests.get(f"{sim.url}/_sim/callbacks", timeout=5).json()
    return [c for c in callbacks if c["kind"] == kind]


def hangups_said(sim: RunningSimulator) -> dict[str, dict]:
    """The hang-up callbacks the simulator sent, by the number called."""
    return {c["params"]["To"]: c["params"] for c in sim_callbacks(sim, "voice:hangup")}


def count(url: str, kind: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind))


def hung_up(url: str, *notification_ids: int) -> bool:
    with session_scope(url) as session:
        return all(session.get(Notification, n).call_cost is not None for n in notification_ids)


def test_two_responders_join_a_recorded_bridge_and_the_timeline_shows_them(sim, app, database_url):
    alert_id = open_alert(database_url, "payments")
    name = f"alert-{alert_id}"
    alice = call_page(database_url, alert_id, "alice", ALICE)
    bob = call_page(database_url, alert_id, "bob", BOB)
    behave(sim, ALICE, "answer:3")
    behave(sim, BOB, "answer:3")

    place_call(sim, app, alice, ALICE)
    wait_for(lambda: count(database_url, "bridge.joined") == 1, what="alice in")
    place_call(sim, app, bob, BOB)  # paged on their own, presses 3 too
    wait_for(lambda: count(database_url, "bridge.joined") == 2, what="bob in")
    assert len(room(sim, name)["members"]) == 2
    assert room(sim, name)["recording"]
    requests.post(f"{sim.url}/_sim/conferences/{name}/end", timeout=5).raise_for_status()
    wait_for(lambda: count(database_url, "bridge.recording") == 1, what="recording recorded")
    wait_for(lambda: hung_up(database_url, alice, bob), what="both calls over")

    view = requests.get(f"{app.url}/api/v1/alerts/{alert_id}", headers=TOKEN, timeout=10).json()
    bridge = [e for e in view["timeline"] if e["kind"].startswith("bridge.")]
    joined = [e["detail"]["who"] for e in bridge if e["kind"] == "bridge.joined"]
    left = [e["detail"]["who"] for e in bridge if e["kind"] == "bridge.left"]
    assert joined == ["alice", "bob"] and sorted(left) == ["alice", "bob"]
    assert all(e["detail"]["conference"] == name for e in bridge)
    [opened] = [e for e in bridge if e["kind"] == "bridge.opened"]
    assert opened["detail"]["by"] == "alice" and opened["detail"]["recorded"] is True
    [recorded] = [e for e in bridge if e["kind"] == "bridge.recording"]
    [sent] = wait_for(lambda: sim_callbacks(sim, "voice:recording"), what="logged by the simulator")
    assert sent["status"] == 200
    assert recorded["detail"]["RecordUrl"] == sent["params"]["RecordUrl"]
    assert recorded["detail"]["RecordUrl"].startswith("https://")
    assert recorded["detail"]["duration_s"] == int(sent["params"]["RecordingDuration"]) >= 1
    assert view["bridge"]["recordings"] == [
        {
            "url": sent["params"]["RecordUrl"],
            "duration_s": recorded["detail"]["duration_s"],
            "at": recorded["at"],
        }
    ]
    assert [m["who"] for m in view["bridge"]["members"]] == ["alice", "bob"]
    assert all(m["joined_at"] and m["left_at"] for m in view["bridge"]["members"])
    # Each person heard whose bridge it is, under their name, and that it is recorded.
    calls = sim_calls(sim)
    for person, number in (("alice", ALICE), ("bob", BOB)):
        heard = calls[number.lstrip("+")]
        assert heard["conferences"] == [name] and heard["digits"] == ["3"]
        assert (
            f"Joining the incident bridge for alert {say_digits(alert_id)} as {person}. "
            "This bridge is recorded." in heard["spoken"]
        )
        assert "3 to join the incident bridge" in heard["spoken"][0]
    # Reached, so not called again; joining is not acknowledging.
    assert {n["state"] for n in view["notifications"]} == {"delivered"}
    assert view["status"] == "triggered"
    assert all(c["status"] == 200 for c in sim_callbacks(sim, "voice:conference"))
    assert count(database_url, "bridge.joined") == 2


def test_an_unsigned_or_replayed_conference_callback_is_refused_and_changes_nothing(
    receiver, redis_client, database_url
):
    request_uuid = str(uuid.uuid4())
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="queued", provider_uuid=request_uuid
    )
    call_uuid = str(uuid.uuid4())
    answered, _ = signed_post(
        receiver,
        f"/plivo/voice/answer?n={notification_id}",
        voice_params(request_uuid, call_uuid),
    )
    assert answered.status_code == 200
    path = f"/plivo/voice/bridge?n={notification_id}"
    entered = {
        "ConferenceAction": "enter",
        "ConferenceName": f"alert-{alert_id}",
        "ConferenceUUID": str(uuid.uuid4()),
        "ConferenceMemberID": "1",
        "CallUUID": call_uuid,
    }
    unsigned = requests.post(f"{receiver.url}{path}", data=entered, timeout=10)
    assert unsigned.status_code == 403
    assert count(database_url, "bridge.joined") == 0

    first, sent = signed_post(receiver, path, entered)
    assert first.status_code == 200 and first.text == "ok\n"
    before = rejected(receiver, "replayed")
    assert replay(sent).status_code == 403
    assert rejected(receiver, "replayed") == before + 1
    again, _ = signed_post(receiver, path, entered)  # Plivo's retry: a fresh nonce
    assert again.text == "duplicate\n"
    other_room = {**entered, "ConferenceName": f"alert-{alert_id + 1000}"}
    elsewhere, _ = signed_post(receiver, path, other_room)
    assert elsewhere.text == "unknown call\n"
    bad_url = {**entered, "ConferenceAction": "record", "RecordUrl": "javascript:x"}
    assert signed_post(receiver, path, bad_url)[0].status_code == 422
    assert count(database_url, "bridge.joined") == 1
    assert count(database_url, "bridge.recording") == 0


def test_call_costs_per_team_match_what_the_simulator_charged(sim, app, database_url):
    teams = {"a": f"team-a-{uuid.uuid4().hex[:8]}", "b": f"team-b-{uuid.uuid4().hex[:8]}"}
    first = open_alert(database_url, teams["a"], source="alertmanager")
    second = open_alert(database_url, teams["b"], source="grafana")
    pages = {
        call_page(database_url, first, "alice", ALICE): ("a", ALICE, "answer:1"),
        call_page(database_url, first, "bob", BOB): ("a", BOB, "answer"),
        call_page(database_url, second, "carol", CAROL): ("b", CAROL, "no-answer"),
    }
    for notification_id, (_team, number, voice) in pages.items():
        behave(sim, number, voice)
        place_call(sim, app, notification_id, number)
    wait_for(lambda: hung_up(database_url, *pages), what="every call over")

    charged = {"a": Decimal(0), "b": Decimal(0)}
    seconds = {"a": 0, "b": 0}
    # The simulator logs a callback once it is answered: after the receiver committed it.
    hangups = wait_for(lambda: len(found := hangups_said(sim)) == 3 and found, what="hang-ups")
    for notification_id, (team, number, _voice) in pages.items():
        said = hangups[number.lstrip("+")]
        record = requests.get(
            f"{sim.api_root}/Call/{said['CallUUID']}/",
            auth=(sim.config.auth_id, SIMULATOR_AUTH_TOKEN),
            timeout=10,
        ).json()
        assert Decimal(record["total_amount"]) == Decimal(said["TotalCost"])
        assert record["bill_duration"] == int(said["BillDuration"])
        charged[team] += Decimal(said["TotalCost"])
        seconds[team] += int(said["Duration"])
        with session_scope(database_url) as session:
            row = session.get(Notification, notification_id)
            assert row.call_cost == Decimal(said["TotalCost"])
            assert (row.call_seconds, row.billed_seconds) == (
                int(said["Duration"]),
                int(said["BillDuration"]),
            )
    # Two answered calls of a minute each at the simulator's rate; the unanswered one is free.
    assert charged == {"a": Decimal("0.01700"), "b": Decimal("0")}
    for key, source in (("a", "alertmanager"), ("b", "grafana")):
        labels = {"team": teams[key], "source": source}
        assert metric(app, "alert_dispatch_call_cost_total", **labels) == pytest.approx(
            float(charged[key])
        )
        assert metric(app, "alert_dispatch_call_seconds_total", **labels) == seconds[key]
    view = requests.get(f"{app.url}/api/v1/alerts/{first}", headers=TOKEN, timeout=10).json()
    assert sorted(n["call"]["cost"] for n in view["notifications"]) == ["0.00850", "0.00850"]
    # The acknowledgement is confirmed with the offer of the bridge (no key: goodbye).
    spoken = sim_calls(sim)[ALICE.lstrip("+")]["spoken"]
    assert "Acknowledged. Thank you. Press 3 to join the incident bridge." in spoken
