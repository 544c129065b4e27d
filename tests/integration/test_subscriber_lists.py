"""Subscriber lists managed by CLI and API, and a notice reaching them like the file's lists.

`alert-dispatch subscribers import` takes a CSV with bad lines (each reported
with its line, the rest imported, every number E.164 and kept once);
`add`, `remove`, `list` and `show` manage lists in the database. The API
(/api/v1/subscriber-lists) does the same over real HTTP, with the alert API's
tokens and a 422 naming each bad number. A notice to a list stored here and
declared in the file reaches its numbers and the file's, each once, through
the real send path and a Plivo simulator.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result
from sqlalchemy import select

from cli.main import cli
from shared.core.db import session_scope, upgrade
from shared.core.models import NoticeSend
from simulator.config import SimulatorConfig
from simulator.server import RunningSimulator, start_in_thread
from tests.worker_caches import clear_worker_caches

A, B, C, D = "+14155550101", "+14155550102", "+442079460958", "+33142685300"
IN_FILE = "+16285550111"

CSV = f"""phone,name
{A},Ann
not a number,Bob
{B},Bea
+1 415 555 0101,Ann again
+999123,Nobody

{C},Cy
"""


def run(database_url: str, tmp_path: Path, *args: str) -> Result:
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path), "CONFIG_FILE": None}
    return CliRunner().invoke(cli, ["subscribers", *args], env=env)


def test_import_reports_bad_lines_with_their_numbers_and_keeps_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    csv_file = tmp_path / "customers.csv"
    csv_file.write_text(CSV)
    imported = run(database_url, tmp_path, "import", "customers", str(csv_file))
    assert imported.exit_code == 1  # some lines were refused: a script must see it
    assert f'{csv_file}: line 3: bad phone number "not a number"' in imported.output
    assert f'{csv_file}: line 6: bad phone number "+999123"' in imported.output
    assert "customers: 3 number(s) added, 0 already on it, 3 now" in imported.output
    assert "1 duplicate line(s)" in imported.output
    assert "2 bad line(s)" in imported.output

    again = run(database_url, tmp_path, "import", "customers", str(csv_file))
    assert "customers: 0 number(s) added, 3 already on it, 3 now" in again.output

    refused = run(database_url, tmp_path, "add", "customers", D, "12345")
    assert (
        refused.exit_code == 1
        and '"12345"' in refused.output
        and "nothing changed" in (refused.output)
    )
    added = run(database_url, tmp_path, "add", "customers", "+33 1 42 68 53 00")
    assert added.exit_code == 0 and "1 number(s) added" in added.output
    shown = run(database_url, tmp_path, "show", "customers")
    assert [line.split()[0] for line in shown.output.splitlines()[1:]] == [A, B, C, D]

    removed = run(database_url, tmp_path, "remove", "customers", B, "+14155550199")
    assert "1 number(s) removed, 1 not on it, 3 now" in removed.output
    listed = run(database_url, tmp_path, "list")
    assert listed.output.splitlines()[1].split() == ["customers", "3", "-"]
    assert run(database_url, tmp_path, "remove", "customers", "--all").exit_code == 0
    gone = run(database_url, tmp_path, "show", "customers")
    assert gone.exit_code == 1 and 'no subscriber list "customers"' in gone.output
    bad_name = run(database_url, tmp_path, "add", "no spaces", A)
    assert bad_name.exit_code == 1 and "is not a list name" in bad_name.output


def test_the_api_manages_lists_with_the_alert_tokens_and_names_each_bad_number(receiver) -> None:
    url = f"{receiver.url}/api/v1/subscriber-lists"
    auth = {"Authorization": "Bearer token-one"}
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.post(url, json={"name": "x"}, timeout=10).status_code == 401

    bad = requests.post(url, json={"name": "vip", "numbers": [A, "0800 123"]}, headers=auth)
    assert bad.status_code == 422
    assert [f["field"] for f in bad.json()["fields"]] == ["numbers.1"]
    assert requests.get(f"{url}/vip", headers=auth, timeout=10).status_code == 404

    created = requests.post(url, json={"name": "vip", "numbers": [A, A, B]}, headers=auth)
    assert created.status_code == 201
    assert created.json() == {"name": "vip", "numbers": [A, B], "stored": [A, B], "in_file": None}
    assert requests.post(url, json={"name": "vip"}, headers=auth).status_code == 409

    added = requests.post(f"{url}/vip/numbers", json={"numbers": [B, C]}, headers=auth)
    assert added.json() == {"name": "vip", "added": 1, "already": 1, "total": 3}
    removed = requests.delete(f"{url}/vip/numbers", json={"numbers": [A, D]}, headers=auth)
    assert removed.json() == {"name": "vip", "removed": 1, "missing": 1, "total": 2}
    listed = requests.get(url, headers=auth, timeout=10).json()
    assert listed == {"lists": [{"name": "vip", "stored": 2, "in_file": None}]}
    missing = requests.post(f"{url}/nope/numbers", json={"numbers": [A]}, headers=auth)
    assert missing.status_code == 404

    deleted = requests.delete(f"{url}/vip", headers=auth, timeout=10)
    assert deleted.json() == {"name": "vip", "removed_numbers": 2}
    assert requests.delete(f"{url}/vip", headers=auth, timeout=10).status_code == 404


# --------------------------------------------------------------------------- a real send


@pytest.fixture
def worker_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, broker_env: str
) -> Iterator[tuple[str, Path, RunningSimulator]]:
    """The worker's settings (in this process) on a migrated SQLite file, the test Redis
    and a Plivo simulator: (database URL, on-call file, simulator)."""
    sim = start_in_thread(SimulatorConfig(sms_per_second=1000))
    url = f"sqlite:///{tmp_path / 'lists.db'}"
    upgrade(url)
    config = tmp_path / "oncall.yaml"
    for name, value in {
        "DATABASE_URL": url,
        "REDIS_URL": broker_env,
        "DATA_DIR": str(tmp_path),
        "PLIVO_BASE_URL": sim.url,
        "CONFIG_FILE": str(config),
        "SMS_PER_SECOND": "100",
        "SENDER_SMS_PER_SECOND": "100",
    }.items():
        monkeypatch.setenv(name, value)
    clear_worker_caches()
    yield url, config, sim
    sim.stop()
    monkeypatch.undo()
    clear_worker_caches()


def oncall(due: datetime) -> str:
    return f"""
contacts:
  ops: {{phone: "+16285550090"}}
policies:
  p:
    steps: [{{targets: [ops], channels: [sms], wait: 5m}}]
default_policy: p
subscriber_lists:
  customers: {{numbers: ["{IN_FILE}", "{A}"]}}  # and those stored by CLI or API
notices:
  upgrade:
    title: Upgrade
    window: {{start: "{due:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{lists: [customers]}}
    templates: {{sms: "{{title}} now"}}
"""


def test_a_notice_reaches_a_stored_list_and_the_files_alike(worker_env, tmp_path) -> None:
    from worker.tasks.notice_send_batch import notice_send_batch
    from worker.tasks.notices_tick import notices_tick

    url, config, sim = worker_env
    csv_file = tmp_path / "more.csv"
    csv_file.write_text(f"{A}\n{B}\n{C}\n")
    config.write_text(oncall(datetime.now(UTC) - timedelta(seconds=1)))
    imported = CliRunner().invoke(cli, ["subscribers", "import", "customers", str(csv_file)])
    assert imported.exit_code == 0, imported.output
    shown = CliRunner().invoke(cli, ["subscribers", "show", "customers"]).output.splitlines()
    assert shown == [
        "list customers: 4 number(s)",
        f"  {IN_FILE}  (file)",
        f"  {A}  (file, stored)",
        f"  {B}  (stored)",
        f"  {C}  (stored)",
    ]
    assert notices_tick()["started"] == 1
    with session_scope(url) as session:
        send_id = session.scalars(select(NoticeSend.id)).one()
    deadline = time.monotonic() + 15
    while notice_send_batch(send_id) not in ("finish", "closed"):
        assert time.monotonic() < deadline, "the send did not finish"
    counts = Counter("+" + m.dst for m in sim.state.messages())
    assert counts == {IN_FILE: 1, A: 1, B: 1, C: 1}
