"""`alert-dispatch notice list | preview` as an operator types them (a real subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.core.db import session_scope
from shared.core.models import OptOut

REPO = Path(__file__).resolve().parents[2]
START = (datetime.now(UTC) + timedelta(days=30)).astimezone(ZoneInfo("Europe/Paris"))
ONCALL = f"""\
contacts:
  alice: {{phone: "+14155550101"}}
  bob: {{phone: "+14155550102", channels: [voice]}}
teams:
  db: {{members: [alice, bob]}}
policies:
  p:
    steps:
      - {{targets: [alice], channels: [sms], wait: 5m}}
default_policy: p
subscriber_lists:
  customers: {{csv: customers.csv}}
notices:
  db-upgrade:
    title: DB upgrade
    impact: paging history read-only
    window: {{start: "{START:%Y-%m-%d} 12:00", duration: 90m, time_zone: Europe/Paris}}
    reminders: [-24h, start, end]
    audience: {{teams: [db], lists: [customers]}}
    templates:
      sms: "{{title}} {{start}} for {{duration}}: {{impact}}"
      voice: "Planned maintenance. {{title}} at {{start}}."
  patching:
    title: Patching
    window: {{start: "2025-01-05 02:00", cron: "0 2 * * SUN", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{contacts: [alice]}}
    templates: {{sms: "{{title}} now"}}
"""


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "notice", *args],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def oncall(tmp_path: Path) -> Path:
    (tmp_path / "customers.csv").write_text("phone\n+14155550111\n+1555\n+14155550112\n")
    path = tmp_path / "oncall.yaml"
    path.write_text(ONCALL)
    return path


def test_list_shows_each_notice_with_its_next_window(oncall: Path, tmp_path: Path) -> None:
    result = run("list", "--file", str(oncall), env={"DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "CHANNELS", "REMINDERS", "NEXT", "WINDOW"]
    upgrade = next(line for line in lines if line.startswith("db-upgrade"))
    assert "one-off" in upgrade and "sms,voice" in upgrade and "-24h,start,end" in upgrade
    day = f"{START.day} {START:%b}"
    assert f"{day} 12:00 " in upgrade and "for 1 hour 30 minutes (Europe/Paris)" in upgrade
    patching = next(line for line in lines if line.startswith("patching"))
    assert "cron" in patching and "Sun " in patching and "02:00 UTC" in patching


def test_list_of_the_shipped_example(tmp_path: Path) -> None:
    example = str(REPO / "config" / "oncall.example.yaml")
    result = run("list", env={"CONFIG_FILE": example, "DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "weekly-patching" in result.stdout and "sms,voice,whatsapp" in result.stdout


def test_preview_renders_counts_and_estimates(
    oncall: Path, database_url: str, tmp_path: Path
) -> None:
    with session_scope(database_url) as session:
        session.add(OptOut(destination="+14155550111"))
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path)}
    result = run("preview", "db-upgrade", "--file", str(oncall), env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("notice db-upgrade: DB upgrade\n")
    day = f"{START:%a} {START.day} {START:%b} 12:00 {START.replace(hour=12).tzname()}"
    assert "sms: 1 segment, GSM-7, " in out
    # alice and the list's valid numbers, one of them opted out; bob takes no SMS.
    assert "; 2 recipient(s), 1 opted out skipped" in out
    assert f"  DB upgrade {day} for 1 hour 30 minutes: paging history read-only\n" in out
    # alice, bob and the valid subscriber left after the opt-out.
    assert "voice: about 9 s spoken; 3 recipient(s), 1 opted out skipped" in out
    assert "reminders: -24h at " in out and "; end at " in out
    assert "estimated duration: about 10 s per reminder at 5 messages/s and 2 calls/s" in out
    assert "estimated cost: 0.0400 USD per reminder, 0.1200 USD for its 3" in out
    assert "nothing has been sent" in out


def test_preview_at_a_time_chooses_that_window(
    oncall: Path, database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path)}
    result = run("preview", "patching", "--file", str(oncall), "--at", "2026-03-02T00:00Z", env=env)
    assert result.returncode == 0, result.stderr
    assert "window: Sun 8 Mar 02:00 UTC to Sun 8 Mar 03:00 UTC (1 hour, UTC)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("preview", "nope"), 'no notice "nope" in '),
        (("preview", "db-upgrade", "--at", "soon"), '--at "soon" is not an ISO time'),
        (("preview", "db-upgrade", "--at", "2099-01-01T00:00"), "has no window after 2099-01-01"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    oncall: Path, database_url: str, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path)}
    result = run(*args, "--file", str(oncall), env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("alert-dispatch: ") and message in line


def test_an_unusable_file_or_database_is_one_line_and_status_2(
    oncall: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(ONCALL.replace("{title} now", "{titel} now"))
    env = {"DATA_DIR": str(tmp_path)}
    for args, message in [
        (("list", "--file", str(broken)), "broken.yaml is invalid (1 problem(s)); run: "),
        (("list", "--file", str(tmp_path / "none.yaml")), "cannot read "),
        (("list",), "give --file or set CONFIG_FILE"),
        (("preview", "db-upgrade", "--file", str(oncall)), "cannot read opt-outs"),
    ]:
        result = run(*args, env={**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
        assert result.returncode == 2, args
        (line,) = result.stderr.strip().splitlines()
        assert message in line and "Traceback" not in result.stderr
