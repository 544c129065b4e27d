"""/api/v1/notices over real HTTP: create, list, show, update, cancel and status.

First part, the receiver in this process on a real database, with an on-call
file: bad notices refused with 422 naming the field and nothing stored, names
taken refused with 409, a refused update leaving everything as it was, cancel
idempotent and audited, the status figures of a send.

Second part, the system running (receiver, worker, beat, a Plivo simulator):
a notice created by API goes out through beat; extended while it goes out,
those already told get one correction and the rest the new words only;
cancelled while it goes out, nothing pending is sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Event
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.conftest import ServedApp
from tests.polling import wait_for

TOKEN = "notice-token-0001"
NUMBERS = [f"+1628555{2000 + i}" for i in range(12)]
ONCALL = f"""
contacts:
  alice: {{phone: "+16285550101"}}
  bob: {{phone: "+16285550102", channels: [voice]}}
teams:
  db: {{members: [alice, bob]}}
policies:
  p:
    steps:
      - {{targets: [alice], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  customers: {{numbers: {NUMBERS!r}}}
notices:
  patching:
    title: Patching
    window: {{start: "2027-01-03 02:00", cron: "0 2 * * SUN", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{contacts: [alice]}}
    templates: {{sms: "{{title}} now"}}
"""


def notice_body(start: datetime, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "db-upgrade",
        "title": "DB upgrade",
        "window": {"start": f"{start:%Y-%m-%dT%H:%M:%S}", "duration": "1h", "time_zone": "UTC"},
        "reminders": ["-2m", "start"],
        "audience": {"teams": ["db"], "lists": ["customers"]},
        "templates": {"sms": "{title} until {end}"},
    }
    for key, value in changes.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) else value
    return body


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.headers = url, {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, f"{self.url}/api/v1/notices{path}", headers=self.headers, timeout=10, **kwargs
        )


@pytest.fixture
def api(database_url: str, broker_env: str, tmp_path: Path) -> Iterator[Api]:
    from cli.stack import free_port
    from shared.core.settings import load_settings
    from webhooks.app import create_app
    from worker import enqueue

    config = tmp_path / "oncall.yaml"
    config.write_text(ONCALL)
    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,
        DATA_DIR=str(tmp_path),
        API_TOKENS=TOKEN,
        CONFIG_FILE=str(config),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    yield Api(served.url, TOKEN)
    served.stop()


def start_due_sends(url: str, config_text: str, now: datetime) -> list[str]:
    """What beat's notice tick does at `now` (its database side), with the file as given."""
    from shared.notices import store
    from shared.notices.ticking import earliest_since, in_force, plan_tick
    from shared.routing.oncall_config import parse_config

    config = parse_config(config_text)
    grace = timedelta(minutes=15)
    with session_scope(url) as session:
        known = store.known_notices(session)
        active = in_force(config.notices, known)
        first_seen = {name: known[name].first_seen for name in active if name in known}
        recorded = store.recorded_send_ids(session, active, earliest_since(first_seen, now, grace))
        started = []
        for item in plan_tick(active, first_seen, recorded, now, grace):
            begun = store.start_send(
                session, item.send, active[item.send.notice], config, ("+14155550000",), now
            )
            if begun is not None:
                started.append(begun.send_id)
    return started


def test_a_notice_is_created_listed_shown_and_picked_up_by_beat(api: Api, database_url) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
    created = api.call("POST", "", json=notice_body(start))
    assert created.status_code == 201, created.text
    view = created.json()
    assert (view["name"], view["source"]) == ("db-upgrade", "api")
    assert view["definition"]["reminders"] == ["-2m", "start"]
    (window,) = view["next_windows"][:1]
    assert [r["reminder"] for r in window["reminders"]] == ["-2m", "start"]
    listed = {n["name"]: n for n in api.call("GET", "").json()["notices"]}
    assert listed["patching"]["source"] == "file" and listed["db-upgrade"]["source"] == "api"
    assert listed["db-upgrade"]["next_window"]["start"] == start.isoformat()

    (send_id,) = start_due_sends(database_url, ONCALL, start - timedelta(seconds=119))
    assert send_id.startswith("db-upgrade/") and send_id.endswith("/-2m")
    shown = api.call("GET", "/db-upgrade").json()
    (send,) = shown["sends"]
    assert (send["kind"], send["state"], send["deliveries"]["pending"]) == (
        "reminder",
        "scheduled",
        13,
    )
    assert shown["next_windows"][0]["reminders"][0]["state"] == "scheduled"
    status = api.call("GET", "/db-upgrade/status").json()
    assert (status["total"], status["remaining"], status["percent_done"]) == (13, 13, 0.0)
    assert status["eta"] is not None and status["done"] is False
    one = api.call("GET", "/db-upgrade/status", params={"send": send_id}).json()
    assert one["sends"] == [{"id": send_id, "state": "scheduled", "kind": "reminder"}]


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"audience": {"teams": ["dba"]}}, "audience.teams.0", 'unknown team "dba"'),
        ({"audience": {"contacts": ["carol"]}}, "audience.contacts.0", 'unknown contact "carol"'),
        (
            {"templates": {"sms": "{title} {strat}"}},
            "templates.sms",
            'unknown placeholder "{strat}"',
        ),
        ({"window": {"start": "2020-01-01T02:00:00"}}, "window.start", "the window is in the past"),
        ({"window": {"cron": "0 2 30 2 *"}}, "window.cron", "never fires"),
        ({"templates": {"sms": "ж" * 700}}, "templates.sms", "11 segments (UCS-2"),
    ],
)
def test_a_bad_notice_is_refused_with_422_naming_the_field(api: Api, change, field, words) -> None:
    start = datetime.now(UTC) + timedelta(days=3)
    refused = api.call("POST", "", json=notice_body(start, **change))
    assert refused.status_code == 422
    (problem,) = refused.json()["fields"]
    assert problem["field"] == field and words in problem["message"]
    assert "db-upgrade" not in {n["name"] for n in api.call("GET", "").json()["notices"]}


def test_a_subscriber_list_kept_in_the_database_may_be_named(api: Api, database_url) -> None:
    from shared.notices.subscriber_store import create_list

    start = datetime.now(UTC) + timedelta(days=3)
    body = notice_body(start, audience={"lists": ["beta-testers"]})
    assert api.call("POST", "", json=body).status_code == 422
    with session_scope(database_url) as session:
        create_list(session, "beta-testers", datetime.now(UTC))
    assert api.call("POST", "", json=body).status_code == 201


def test_names_tokens_and_unknown_notices(api: Api) -> None:
    start = datetime.now(UTC) + timedelta(days=3)
    taken = api.call("POST", "", json=notice_body(start, name="patching"))
    assert taken.status_code == 409 and taken.json()["fields"][0]["field"] == "name"
    assert "on-call file" in taken.json()["error"]
    assert api.call("POST", "", json=notice_body(start)).status_code == 201
    assert api.call("POST", "", json=notice_body(start)).status_code == 409
    anonymous = requests.get(f"{api.url}/api/v1/notices", timeout=10)
    assert anonymous.status_code == 401
    for method, path in [("GET", "/nope"), ("PATCH", "/nope"), ("DELETE", "/nope")]:
        body = {"extend": "30m"} if method == "PATCH" else None
        assert api.call(method, path, json=body).status_code == 404


def test_updates_refused_leave_everything_as_it_was(api: Api, database_url) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
    assert api.call("POST", "", json=notice_body(start)).status_code == 201
    start_due_sends(database_url, ONCALL, start - timedelta(seconds=119))
    before = api.call("GET", "/db-upgrade").json()
    file_notice = api.call("PATCH", "/patching", json={"extend": "30m"})
    assert file_notice.status_code == 409 and "on-call file" in file_notice.json()["error"]
    for change, field in [
        ({"templates": {"sms": "{title} {ned}"}}, "templates.sms"),
        ({"window": {"start": "2020-01-01 02:00"}}, "window.start"),
        ({"extend": "soon"}, "extend"),
        ({"colour": "red"}, "colour"),
    ]:
        refused = api.call("PATCH", "/db-upgrade", json=change)
        assert refused.status_code == 422, change
        assert refused.json()["fields"][0]["field"] == field
    assert api.call("GET", "/db-upgrade").json() == before
    longer = api.call("PATCH", "/db-upgrade", json={"extend": "30m"})
    assert longer.status_code == 200
    answer = longer.json()
    assert (answer["corrected"], answer["rewritten"]) == (0, 13)  # nobody handed off yet
    assert answer["notice"]["definition"]["window"]["duration"] == 5400


def test_cancel_is_idempotent_audited_and_stops_pending_sends(api: Api, database_url) -> None:
    start = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
    assert api.call("POST", "", json=notice_body(start)).status_code == 201
    start_due_sends(database_url, ONCALL, start - timedelta(seconds=119))
    first = api.call("DELETE", "/db-upgrade", json={"by": "ops on call"})
    again = api.call("POST", "/db-upgrade/cancel")
    assert first.status_code == again.status_code == 200
    assert (first.json()["changed"], first.json()["deliveries_skipped"]) == (True, 13)
    assert (again.json()["changed"], again.json()["sends_stopped"]) == (False, 0)
    status = api.call("GET", "/db-upgrade/status").json()
    assert status["skipped_by_reason"]["cancelled"] == 13 and status["done"] is True
    assert api.call("PATCH", "/db-upgrade", json={"extend": "30m"}).status_code == 409
    with session_scope(database_url) as session:
        events = session.scalars(select(Event).where(Event.kind == "notice.cancelled")).all()
        assert [e.detail["by"] for e in events] == ["ops on call"]
    listed = {n["name"]: n for n in api.call("GET", "").json()["notices"]}
    assert listed["db-upgrade"]["cancelled_at"] == first.json()["cancelled_at"]


# --------------------------------------------------------------------------- the running system

RATE = 10  # SMS per second: a 40-number notice takes about 4 s to go out
BIG = [f"+1628556{3000 + i}" for i in range(40)]
OTHER = [f"+1628557{4000 + i}" for i in range(40)]
STACK_ONCALL = f"""
contacts:
  ops: {{phone: "+16285550090"}}
policies:
  p:
    steps:
      - {{targets: [ops], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  big: {{numbers: {BIG!r}}}
  other: {{numbers: {OTHER!r}}}
"""


class Running:
    def __init__(self, stack: Stack, sim: RunningSimulator) -> None:
        self.stack, self.sim = stack, sim
        self.api = Api(stack.web_url, stack.config.api_token)

    def texts_to(self, numbers: list[str]) -> dict[str, list[str]]:
        wanted = {n.lstrip("+") for n in numbers}
        found: dict[str, list[str]] = {}
        for message in self.sim.state.messages():
            if message.dst in wanted:
                found.setdefault("+" + message.dst, []).append(message.text)
        return found

    def create_due_now(self, name: str, audience: str) -> None:
        """A notice whose first reminder is due at once: beat's next tick sends it."""
        start = (datetime.now(UTC) + timedelta(minutes=2)).replace(microsecond=0)
        body = notice_body(start, name=name, audience={"lists": [audience]}, reminders=["-2m"])
        body["audience"].pop("teams")
        created = self.api.call("POST", "", json=body)
        assert created.status_code == 201, created.text


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    data_dir: Path = tmp_path_factory.mktemp("notice-api")
    config = data_dir / "oncall.yaml"
    config.write_text(STACK_ONCALL)
    env = {
        "CONFIG_FILE": str(config),
        "SMS_PER_SECOND": str(RATE),
        "SENDER_SMS_PER_SECOND": str(RATE),
    }
    stack = Stack(
        StackConfig(data_dir=data_dir, with_beat=True, worker_concurrency=1, extra_env=env)
    )
    sim = start_in_thread(SimulatorConfig(sms_per_second=RATE, receiver_url=stack.web_url))
    stack.config.extra_env["PLIVO_BASE_URL"] = sim.url
    try:
        with stack:
            stack.wait_for_workers()
            yield Running(stack, sim)
    finally:
        sim.stop()


def test_extended_while_it_goes_out_the_told_get_a_correction_the_rest_new_words(
    running: Running,
) -> None:
    running.create_due_now("upgrade", "big")
    wait_for(lambda: len(running.texts_to(BIG)) >= 5, timeout=15, what="first SMS out")
    changed = running.api.call("PATCH", "/upgrade", json={"extend": "30m"})
    assert changed.status_code == 200, changed.text
    answer = changed.json()
    assert answer["queued"] is True and 0 < answer["corrected"] < len(BIG)
    assert answer["corrected"] + answer["rewritten"] == len(BIG)

    def settled() -> dict[str, list[str]] | None:
        texts = running.texts_to(BIG)
        total = sum(len(t) for t in texts.values())
        return texts if len(texts) == len(BIG) and total == len(BIG) + answer["corrected"] else None

    texts = wait_for(settled, timeout=20, what="every number told, corrections sent")
    corrected = {n for n, t in texts.items() if any(x.startswith("Update: ") for x in t)}
    reminders = Counter(x for t in texts.values() for x in t if not x.startswith("Update: "))
    assert len(reminders) == 2 and sum(reminders.values()) == len(BIG)  # old words, new words
    old_words = {n for n, t in texts.items() if len(t) == 2}
    assert corrected == old_words and len(corrected) == answer["corrected"]
    correction = next(x for x in texts[next(iter(corrected))] if x.startswith("Update: "))
    assert correction.startswith("Update: DB upgrade now ends at ") and "(was " in correction
    new_text = next(x for x in reminders if x not in texts[next(iter(corrected))])
    assert new_text.endswith(correction.split("now ends at ")[1].split(" (was")[0])
    status = wait_for(
        lambda: (s := running.api.call("GET", "/upgrade/status").json())["done"] and s,
        timeout=10,
        what="status done",
    )
    assert status["remaining"] == 0 and {s["kind"] for s in status["sends"]} <= {
        "correction",
        "rest",
    }


def test_cancelled_while_it_goes_out_nothing_pending_is_sent(running: Running) -> None:
    running.create_due_now("patch-night", "other")
    wait_for(lambda: len(running.texts_to(OTHER)) >= 5, timeout=15, what="first SMS out")
    cancelled = running.api.call("POST", "/patch-night/cancel", json={"by": "ops"})
    answer = cancelled.json()
    assert answer["changed"] is True and answer["sends_stopped"] == 1
    assert answer["deliveries_skipped"] > 0
    status = wait_for(
        lambda: (s := running.api.call("GET", "/patch-night/status").json())["done"] and s,
        timeout=10,
        what="the cancelled send closed",
    )
    assert status["skipped_by_reason"]["cancelled"] == answer["deliveries_skipped"]
    sent = len(running.texts_to(OTHER))
    assert sent == len(OTHER) - answer["deliveries_skipped"]
    assert all(len(t) == 1 for t in running.texts_to(OTHER).values())
