"""Who is on call, and overrides kept in the database, from the CLI and over real HTTP.

An on-call file with a weekly rotation (alice, then carol, hand-off Mondays
09:00 Europe/Berlin from Monday 2027-01-04) and a second schedule that started
a week before today. `alert-dispatch oncall` and /api/v1/oncall answer now, at
a given time and with the next hand-offs; "Bob covers for Alice from Friday
18:00 to Monday 09:00" changes the answer inside that interval and nowhere
else; overrides are listed and removed (twice is an error), each change is in
the event log, and every bad input is refused naming the field: exit status 2
and one line at the CLI, 422 at the API (401 without a token).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import select

from cli.main import cli
from shared.core.db import session_scope
from shared.core.models import Event
from tests.conftest import ServedApp

TOKEN = "oncall-token-0001"
WEEK_AGO = (datetime.now(UTC) - timedelta(days=7)).date()
ONCALL = f"""
contacts:
  alice: {{phone: "+16285550101"}}
  bob: {{phone: "+16285550102"}}
  carol: {{phone: "+16285550103"}}
  dave: {{phone: "+16285550104"}}
policies:
  p:
    steps:
      - {{targets: [alice], channels: [sms], wait: 5m}}
default_policy: p
schedules:
  primary:
    time_zone: Europe/Berlin
    layers:
      - name: weekly
        rotation: {{members: [alice, carol], shift: 1w, handoff: "09:00", start: 2027-01-04}}
  support:
    time_zone: UTC
    layers:
      - name: weekly
        rotation: {{members: [dave, bob], shift: 1w, handoff: "00:00", start: {WEEK_AGO}}}
"""
# Bob covers for Alice from Friday 18:00 to Monday 09:00 (Berlin, UTC+1 in January).
BOB_FOR_ALICE = ("2027-01-08 18:00", "2027-01-11 09:00")
# Moments (Berlin wall time) and who is on call then, with the override in force.
WITH_OVERRIDE = {
    "2027-01-06 12:00": "alice",
    "2027-01-08 17:59": "alice",
    "2027-01-08 18:00": "bob",
    "2027-01-09 12:00": "bob",
    "2027-01-11 08:59": "bob",
    "2027-01-11 09:00": "carol",
    "2027-01-15 18:00": "carol",
}


@pytest.fixture
def oncall_file(tmp_path: Path) -> Path:
    path = tmp_path / "oncall.yaml"
    path.write_text(ONCALL)
    return path


def run(database_url: str, oncall_file: Path, *args: str) -> Result:
    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(oncall_file.parent),
        "CONFIG_FILE": str(oncall_file),
    }
    return CliRunner().invoke(cli, ["oncall", *args], env=env)


def on_call_at(database_url: str, oncall_file: Path, when: str) -> str:
    result = run(database_url, oncall_file, "primary", "--at", when, "--next", "0")
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[1].split(": ", 1)[1].split("  (")[0]


def events(database_url: str) -> list[tuple[str, dict[str, Any]]]:
    with session_scope(database_url) as session:
        rows = session.scalars(
            select(Event).where(Event.kind.like("schedule.%")).order_by(Event.id)
        )
        return [(row.kind, row.detail) for row in rows]


# --------------------------------------------------------------------------- CLI


def test_cli_shows_who_is_on_call_now_at_a_time_and_the_next_handoffs(
    database_url: str, oncall_file: Path
) -> None:
    now = run(database_url, oncall_file)
    assert now.exit_code == 0, now.output
    support = now.output.split("support (UTC)\n", 1)[1].splitlines()
    assert support[0].startswith("  on call at ") and support[0].endswith(": bob")
    assert "primary (Europe/Berlin)" in now.output

    at = run(database_url, oncall_file, "primary", "--at", "2027-01-06 12:00", "--next", "2")
    assert at.exit_code == 0, at.output
    assert at.output.splitlines() == [
        "primary (Europe/Berlin)",
        "  on call at Wed 2027-01-06 12:00 CET: alice",
        "  next hand-offs:",
        "    Mon 2027-01-11 09:00 CET  carol",
        "    Mon 2027-01-18 09:00 CET  alice",
    ]
    with_offset = run(database_url, oncall_file, "--at", "2027-01-12T08:00Z", "--json")
    views = {view["schedule"]: view for view in json.loads(with_offset.output)["schedules"]}
    assert views["primary"]["on_call"] == ["carol"]
    assert views["primary"]["at"] == "2027-01-12T09:00:00+01:00"
    assert [h["on_call"] for h in views["primary"]["next"]] == [["alice"], ["carol"], ["alice"]]


def test_cli_override_changes_the_answer_inside_its_interval_only_and_is_audited(
    database_url: str, oncall_file: Path
) -> None:
    start, end = BOB_FOR_ALICE
    added = run(
        database_url, oncall_file, "override", "add", "primary",
        "--covering", "bob", "--replaces", "alice", "--from", start, "--to", end,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert added.output.strip() == (
        "override #1: bob covers for alice in primary "
        "from Fri 2027-01-08 18:00 CET to Mon 2027-01-11 09:00 CET"
    )
    for when, who in WITH_OVERRIDE.items():
        assert (when, on_call_at(database_url, oncall_file, when)) == (when, who)
    handoffs = run(database_url, oncall_file, "primary", "--at", "2027-01-08 12:00", "--next", "2")
    assert handoffs.output.splitlines()[3:] == [
        "    Fri 2027-01-08 18:00 CET  bob",
        "    Mon 2027-01-11 09:00 CET  carol",
    ]
    inside = run(database_url, oncall_file, "primary", "--at", "2027-01-09 12:00")
    assert "bob  (override #1)" in inside.output

    listed = run(database_url, oncall_file, "override", "list")
    assert listed.output.split() == [
        "#1", "primary", "bob", "for", "alice",
        "Fri", "2027-01-08", "18:00", "CET", "->", "Mon", "2027-01-11", "09:00", "CET",
        "by", listed.output.split()[-1],
    ]  # fmt: skip
    assert listed.output.split()[-1].startswith("cli")

    removed = run(database_url, oncall_file, "override", "remove", "1")
    assert removed.exit_code == 0, removed.output
    assert on_call_at(database_url, oncall_file, "2027-01-09 12:00") == "alice"
    again = run(database_url, oncall_file, "override", "remove", "1")
    assert again.exit_code == 2
    assert again.stderr.strip() == "alert-dispatch: override 1 not found"
    assert run(database_url, oncall_file, "override", "list").output.strip() == (
        "no overrides in force or to come"
    )
    assert "(removed)" in run(database_url, oncall_file, "override", "list", "--all").output

    logged = events(database_url)
    assert [kind for kind, _ in logged] == [
        "schedule.override_created",
        "schedule.override_removed",
    ]
    created = logged[0][1]
    assert created["override"] == 1 and created["schedule"] == "primary"
    assert (created["covering"], created["replaces"]) == ("bob", "alice")
    assert created["start"] == "2027-01-08T17:00:00+00:00"
    assert "+1628" not in repr(logged)  # names, never numbers


ADD = ("override", "add", "primary", "--covering", "bob")
WINDOW = ("--from", BOB_FOR_ALICE[0], "--to", BOB_FOR_ALICE[1])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), 'unknown schedule "nope" (schedules: primary, support)'),
        (("primary", "--at", "next friday"), '--at: "next friday" is not a time'),
        (("primary", "--at", "0001-01-01T00:00+05:00"), "--at: "),
        (("override", "add", "nope", "--covering", "bob", *WINDOW), 'unknown schedule "nope"'),
        ((*ADD, "--from", "friday", "--to", "2027-01-11 09:00"), '--from: "friday" is not'),
        ((*ADD, "--from", "2027-01-11 09:00", "--to", "2027-01-08 18:00"), "--to: must be after"),
        ((*ADD, "--from", "2027-01-08 18:00", "--to", "2027-01-08 18:00"), "--to: must be after"),
        (("override", "add", "primary", "--covering", "zed", *WINDOW), "--covering: unknown"),
        ((*ADD, "--replaces", "zed", *WINDOW), '--replaces: unknown contact "zed"'),
        ((*ADD, "--replaces", "dave", *WINDOW), '--replaces: "dave" is in no layer of'),
        (("override", "list", "nope"), 'unknown schedule "nope"'),
        (("override", "remove", "7"), "override 7 not found"),
    ],
)
def test_cli_refuses_bad_input_with_one_line_and_status_2(
    database_url: str, oncall_file: Path, args: tuple[str, ...], message: str
) -> None:
    result = run(database_url, oncall_file, *args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("alert-dispatch: ") and message in line
    assert run(database_url, oncall_file, "override", "list", "--all").output.strip() == (
        "no overrides"
    )
    assert events(database_url) == []


# --------------------------------------------------------------------------- API


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {TOKEN}"}

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, f"{self.url}/api/v1{path}", headers=self.headers, timeout=10, **kwargs
        )

    def who(self, when: str) -> list[str]:
        answer = self.call("GET", "/oncall/primary", params={"at": when, "next": 0})
        assert answer.status_code == 200, answer.text
        return answer.json()["on_call"]


@pytest.fixture
def api(database_url: str, broker_env: str, oncall_file: Path) -> Iterator[Api]:
    from cli.stack import free_port
    from shared.core.settings import load_settings
    from webhooks.app import create_app
    from worker import enqueue

    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,
        DATA_DIR=str(oncall_file.parent),
        API_TOKENS=TOKEN,
        CONFIG_FILE=str(oncall_file),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    yield Api(served.url)
    served.stop()


def test_api_answers_who_is_on_call_and_manages_overrides(api: Api, database_url: str) -> None:
    shown = api.call("GET", "/oncall/primary", params={"at": "2027-01-06T11:00:00Z", "next": 2})
    assert shown.json() == {
        "schedule": "primary",
        "time_zone": "Europe/Berlin",
        "at": "2027-01-06T12:00:00+01:00",
        "on_call": ["alice"],
        "overrides": [],
        "next": [
            {"start": "2027-01-11T09:00:00+01:00", "on_call": ["carol"]},
            {"start": "2027-01-18T09:00:00+01:00", "on_call": ["alice"]},
        ],
    }
    everyone = api.call("GET", "/oncall").json()["schedules"]
    assert [view["schedule"] for view in everyone] == ["primary", "support"]
    assert everyone[1]["on_call"] == ["bob"]

    start, end = BOB_FOR_ALICE
    body = {"covering": "bob", "replaces": "alice", "start": start, "end": end, "by": "ops"}
    created = api.call("POST", "/schedules/primary/overrides", json=body)
    assert created.status_code == 201, created.text
    view = created.json()
    assert (view["id"], view["start"], view["end"]) == (
        1,
        "2027-01-08T17:00:00+00:00",
        "2027-01-11T08:00:00+00:00",
    )
    assert (view["created_by"], view["removed_at"]) == ("ops", None)
    for when, who in WITH_OVERRIDE.items():
        assert (when, api.who(when)) == (when, [who])
    saturday = api.call("GET", "/oncall", params={"at": "2027-01-09 12:00"}).json()
    assert saturday["schedules"][0]["on_call"] == ["bob"]
    assert saturday["schedules"][0]["overrides"] == [1]

    listed = api.call("GET", "/schedules/primary/overrides").json()["overrides"]
    assert [item["id"] for item in listed] == [1]
    assert api.call("GET", "/schedules/support/overrides").json() == {"overrides": []}
    removed = api.call("DELETE", "/schedules/primary/overrides/1")
    assert removed.status_code == 200 and removed.json()["removed_at"] is not None
    twice = api.call("DELETE", "/schedules/primary/overrides/1")
    assert (twice.status_code, twice.json()["error"]) == (404, "override 1 not found")
    assert api.who("2027-01-09 12:00") == ["alice"]
    assert api.call("GET", "/schedules/primary/overrides").json() == {"overrides": []}
    past = api.call("GET", "/schedules/primary/overrides", params={"all": "true"}).json()
    assert [item["id"] for item in past["overrides"]] == [1]

    logged = events(database_url)
    assert [kind for kind, _ in logged] == [
        "schedule.override_created",
        "schedule.override_removed",
    ]
    assert [detail["by"] for _, detail in logged] == ["ops", "api"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"covering": "zed"}, "covering"),
        ({"covering": None}, "covering"),
        ({"replaces": "zed"}, "replaces"),
        ({"replaces": "dave"}, "replaces"),
        ({"start": "friday evening"}, "start"),
        ({"end": "2027-01-08T17:00:00Z"}, "end"),
        ({"end": "2027-01-08 18:00"}, "end"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_api_refuses_a_bad_override_naming_the_field(
    api: Api, database_url: str, change: dict[str, Any], field: str
) -> None:
    start, end = BOB_FOR_ALICE
    body = {"covering": "bob", "replaces": "alice", "start": start, "end": end, **change}
    body = {key: value for key, value in body.items() if value is not None}
    refused = api.call("POST", "/schedules/primary/overrides", json=body)
    assert refused.status_code == 422, refused.text
    assert [problem["field"] for problem in refused.json()["fields"]] == [field]
    assert api.call("GET", "/schedules/primary/overrides?all=true").json() == {"overrides": []}
    assert events(database_url) == []


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/oncall", {"at": "tomorrow"}, "at"),
        ("/oncall/primary", {"at": "2027-13-01 00:00"}, "at"),
        ("/oncall/primary", {"next": "99"}, "next"),
        ("/oncall/primary", {"next": "-1"}, "next"),
        ("/schedules/primary/overrides", {"all": "maybe"}, "all"),
    ],
)
def test_api_refuses_bad_parameters_naming_them(
    api: Api, path: str, params: dict[str, str], field: str
) -> None:
    refused = api.call("GET", path, params=params)
    assert refused.status_code == 422, refused.text
    assert [problem["field"] for problem in refused.json()["fields"]] == [field]


def test_api_refuses_unknown_schedules_and_requests_without_a_token(api: Api) -> None:
    body = {"covering": "bob", "start": BOB_FOR_ALICE[0], "end": BOB_FOR_ALICE[1]}
    assert api.call("GET", "/oncall/nope").status_code == 404
    assert api.call("POST", "/schedules/nope/overrides", json=body).status_code == 404
    assert api.call("GET", "/schedules/nope/overrides").status_code == 404
    assert api.call("DELETE", "/schedules/nope/overrides/1").status_code == 404
    for method, path in [
        ("GET", "/oncall"),
        ("GET", "/oncall/primary"),
        ("GET", "/schedules/primary/overrides"),
        ("POST", "/schedules/primary/overrides"),
        ("DELETE", "/schedules/primary/overrides/1"),
    ]:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            answer = requests.request(
                method, f"{api.url}/api/v1{path}", json=body, headers=headers, timeout=10
            )
            assert (method, path, answer.status_code) == (method, path, 401)
    assert api.call("GET", "/schedules/primary/overrides").json() == {"overrides": []}
