"""An answering machine gets a short voicemail, once, and the call counts as not reached.

The real receiver over HTTP, Plivo played by the simulator (machine detection
with its documented timing, the Live Call API transfer): calls are placed at
the simulator as the worker places them, and what the far end heard is read
back from the simulator's call records. The chain moving on after such a call
is covered with a worker in test_escalation_flows.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from cli.stack import SIMULATOR_AUTH_TOKEN, free_port
from shared.core.db import session_scope
from shared.core.models import AckCode, Alert, Event, Notification
from shared.core.settings import load_settings
from shared.notifications.voice_xml import say_digits
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.broker_messages import queued_anywhere
from tests.conftest import ServedApp
from tests.integration.test_security_callbacks import (
    OUR_NUMBER,
    PERSON,
    page,
    replay,
    signed_post,
    voice_params,
)
from tests.polling import wait_for
from webhooks.app import create_app
from worker import task_names


@pytest.fixture
def sim() -> Iterator[RunningSimulator]:
    running = start_in_thread(SimulatorConfig())
    yield running
    running.stop()


@pytest.fixture
def app(sim, database_url: str, broker_env: str, tmp_path: Path) -> Iterator[ServedApp]:
    """The receiver, its Plivo account being the simulator's."""
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
    )
    from worker import enqueue

    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    yield served
    served.stop()


def place_call(sim: RunningSimulator, app: ServedApp, notification_id: int) -> str:
    """The call as worker.sending.voice places it: asynchronous machine detection."""
    hook = f"{app.url}/plivo/voice/{{}}?n={notification_id}"
    response = requests.post(
        f"{sim.api_root}/Call/",
        json={
            "from": OUR_NUMBER,
            "to": PERSON.lstrip("+"),
            "answer_url": hook.format("answer"),
            "answer_method": "POST",
            "hangup_url": hook.format("hangup"),
            "hangup_method": "POST",
            "machine_detection": "true",
            "machine_detection_url": hook.format("machine"),
            "machine_detection_method": "POST",
        },
        auth=(sim.config.auth_id, SIMULATOR_AUTH_TOKEN),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["request_uuid"]


def set_scenario(sim: RunningSimulator, **body: object) -> None:
    requests.post(
        f"{sim.url}/_sim/scenarios", json={"number": PERSON, **body}, timeout=5
    ).raise_for_status()


def the_call(sim: RunningSimulator) -> dict:
    [call] = requests.get(f"{sim.url}/_sim/calls", timeout=5).json()
    return call


def transfers(sim: RunningSimulator) -> list[dict]:
    return [
        r
        for r in requests.get(f"{sim.url}/_sim/requests", timeout=5).json()
        if r["method"] == "POST" and re.search(r"/Call/[^/]+/?$", r["path"])
    ]


def notification(url: str, notification_id: int) -> Notification:
    with session_scope(url) as session:
        return session.get(Notification, notification_id)


def events(url: str, kind: str) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind))


def queued(redis_client, task: str) -> list[list]:
    """The arguments of every `task` message waiting in the broker."""
    return [queued.args for queued in queued_anywhere(redis_client, task)]


def test_a_machine_detected_mid_menu_gets_the_voicemail_once_and_is_not_reached(
    sim, app, redis_client, database_url
):
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="sending", provider_uuid=None
    )
    # Detection needs 1.5 s; the machine would sit through the menu's prompt for 8 s. The
    # answer's callback is handled well before the report (at 0.4 s, a loaded run once
    # handled the report first: then the answer itself leaves the voicemail, another path).
    set_scenario(sim, voice="machine", answer_delay_s=0.1, input_delay_s=8, detection_delay_s=1.5)
    place_call(sim, app, notification_id)
    wait_for(lambda: notification(database_url, notification_id).state == "undelivered")
    call = the_call(sim)
    assert [x["kind"] for x in call["xml"]] == ["voice:answer", "voice:transfer"]
    assert "GetInput" in call["xml"][0]["xml"]  # the menu had begun ...
    voicemail = ET.fromstring(call["xml"][1]["xml"])
    assert [verb.tag for verb in voicemail] == ["Speak", "Hangup"]  # ... and was cut short
    said = voicemail[0].text or ""
    code = int(
        re.search(r"text ([\d ]+) A to the number this call came from", said)[1].replace(" ", "")
    )
    assert f"alert {say_digits(alert_id)}" in said and "disk full on db1" in said
    assert said.count(".") == 3  # the alert, the instruction, goodbye
    assert call["spoken"][-1] == said and call["digits"] == []
    assert not any("did not receive any input" in text for text in call["spoken"])
    with session_scope(database_url) as session:
        [ack_code] = session.scalars(
            select(AckCode).where(AckCode.destination == PERSON, AckCode.active)
        ).all()
        assert (ack_code.code, ack_code.alert_ids) == (code, [alert_id])
    row = notification(database_url, notification_id)
    assert (row.outcome, row.error_code) == ("not_reached", "machine")
    # Handed on as for a call nobody answered: re-call or the next step.
    wait_for(lambda: [notification_id] in queued(redis_client, task_names.NOTIFICATION_ENDED))
    assert [t["status"] for t in transfers(sim)] == [202]
    assert events(database_url, "call.voicemail") == 1


def test_a_person_who_answers_hears_the_menu_and_no_voicemail(sim, app, redis_client, database_url):
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="sending", provider_uuid=None
    )
    set_scenario(sim, voice="answer:1", answer_delay_s=0.1, input_delay_s=1, detection_delay_s=0.2)
    place_call(sim, app, notification_id)
    wait_for(lambda: notification(database_url, notification_id).state == "delivered")
    call = the_call(sim)
    assert [x["kind"] for x in call["xml"]] == ["voice:answer", "voice:action"]
    assert call["digits"] == ["1"] and not call["machine_detected"]
    with session_scope(database_url) as session:
        assert session.get(Alert, alert_id).status == "acknowledged"
    assert notification(database_url, notification_id).outcome == "acknowledged"
    callbacks = requests.get(f"{sim.url}/_sim/callbacks", timeout=5).json()
    assert not [c for c in callbacks if c["kind"] == "voice:machine"]
    assert transfers(sim) == [] and events(database_url, "call.voicemail") == 0


def test_a_replayed_machine_report_is_refused_and_a_repeated_one_changes_nothing(
    sim, app, redis_client, database_url
):
    _alert_id, notification_id, _ = page(
        database_url, channel="voice", state="sending", provider_uuid=None
    )
    call = voice_params("req-machine")
    signed_post(app, f"/plivo/voice/answer?n={notification_id}", call)
    report = {**call, "Machine": "true", "Event": "MachineDetection"}
    first, sent = signed_post(app, f"/plivo/voice/machine?n={notification_id}", report)
    assert (first.status_code, first.text) == (200, "ok\n")
    assert replay(sent).status_code == 403  # the very same request again
    again, _ = signed_post(app, f"/plivo/voice/machine?n={notification_id}", report)
    assert (again.status_code, again.text) == (200, "duplicate\n")  # signed anew, same call
    assert events(database_url, "call.machine") == 1
    assert len(transfers(sim)) == 1  # moved to the voicemail once (the simulator: no such call)
    assert notification(database_url, notification_id).outcome == "machine"


def test_a_machine_known_before_the_answer_is_handled_gets_the_voicemail_directly(
    sim, app, redis_client, database_url
):
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="sending", provider_uuid=None
    )
    call = voice_params("req-early-machine")
    report = {**call, "Machine": "true", "Event": "MachineDetection"}
    assert signed_post(app, f"/plivo/voice/machine?n={notification_id}", report)[0].text == "ok\n"
    answered = signed_post(app, f"/plivo/voice/answer?n={notification_id}", call)[0]
    root = ET.fromstring(answered.text)
    assert [verb.tag for verb in root] == ["Speak", "Hangup"]
    assert f"alert {say_digits(alert_id)}" in root[0].text and "text 1 A" in root[0].text
    assert transfers(sim) == []  # nothing to cut short: the answer left it
    again = signed_post(app, f"/plivo/voice/voicemail?n={notification_id}", call)[0]
    assert [verb.tag for verb in ET.fromstring(again.text)] == ["Hangup"]  # once per call
