"""`alert-dispatch notice ...` as an operator types them (a real database).

list and preview; create from a file or options, show, update, cancel and
status of notices made outside the file; every refusal one line and status 2.
Most commands run in this process (the same click code, without a second of
interpreter start-up each); a real subprocess where the process itself is the
point: a create, a refusal over an unusable database, and `status --watch`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from shared.core.db import session_scope
from shared.core.models import Event, NoticeDelivery, NoticeSend, OptOut

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


def typed(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`run`, in this process: the same exit status, stdout and stderr."""
    code, out, err = invoke(*args, env=env)
    return subprocess.CompletedProcess(["notice", *args], code, out, err)


@pytest.fixture
def oncall(tmp_path: Path) -> Path:
    (tmp_path / "customers.csv").write_text("phone\n+14155550111\n+1555\n+14155550112\n")
    path = tmp_path / "oncall.yaml"
    path.write_text(ONCALL)
    return path


def test_list_shows_each_notice_with_its_next_window(oncall: Path, tmp_path: Path) -> None:
    result = typed("list", "--file", str(oncall), env={"DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SOURCE", "KIND", "CHANNELS", "REMINDERS", "NEXT", "WINDOW"]
    upgrade = next(line for line in lines if line.startswith("db-upgrade"))
    assert " file " in upgrade and "one-off" in upgrade and "sms,voice" in upgrade
    assert "-24h,start,end" in upgrade
    day = f"{START.day} {START:%b}"
    assert f"{day} 12:00 " in upgrade and "for 1 hour 30 minutes (Europe/Paris)" in upgrade
    patching = next(line for line in lines if line.startswith("patching"))
    assert "cron" in patching and "Sun " in patching and "02:00 UTC" in patching


def test_list_of_the_shipped_example(tmp_path: Path) -> None:
    example = str(REPO / "config" / "oncall.example.yaml")
    result = typed("list", env={"CONFIG_FILE": example, "DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "weekly-patching" in result.stdout and "sms,voice,whatsapp" in result.stdout


def test_preview_renders_counts_and_estimates(
    oncall: Path, database_url: str, tmp_path: Path
) -> None:
    with session_scope(database_url) as session:
        session.add(OptOut(destination="+14155550111"))
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path)}
    result = typed("preview", "db-upgrade", "--file", str(oncall), env=env)
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
    result = typed(
        "preview", "patching", "--file", str(oncall), "--at", "2026-03-02T00:00Z", env=env
    )
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
    result = typed(*args, "--file", str(oncall), env=env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("alert-dispatch: ") and message in line


def test_an_unusable_file_or_database_is_one_line_and_status_2(
    oncall: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(ONCALL.replace("{title} now", "{titel} now"))
    env = {"DATA_DIR": str(tmp_path)}
    for command, args, message in [
        (typed, ("list", "--file", str(broken)), "broken.yaml is invalid (1 problem(s)); run: "),
        (typed, ("list", "--file", str(tmp_path / "none.yaml")), "cannot read "),
        (typed, ("list",), "give --file or set CONFIG_FILE"),
        (run, ("preview", "db-upgrade", "--file", str(oncall)), "cannot read opt-outs"),
    ]:
        result = command(*args, env={**env, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
        assert result.returncode == 2, args
        (line,) = result.stderr.strip().splitlines()
        assert message in line and "Traceback" not in result.stderr


# --------------------------------------------------------------------------- made outside the file

LATER = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
NOTICE_FILE = f"""\
name: db-move
title: DB move
window: {{start: "{LATER:%Y-%m-%d} 03:00", duration: 1h, time_zone: Europe/Paris}}
reminders: [-1h, start]
audience: {{teams: [db], lists: [customers]}}
templates: {{sms: "{{title}} {{start}} to {{end}}"}}
"""
FLAGS = [
    "--name", "cache-flush", "--title", "Cache flush", "--start", f"{LATER:%Y-%m-%d} 05:00",
    "--duration", "30m", "--time-zone", "UTC", "--reminder", "start", "--contact", "alice",
    "--sms", "{title} at {start}",
]  # fmt: skip


@pytest.fixture
def cli_env(oncall: Path, database_url: str, broker_env: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path),
        "CONFIG_FILE": str(oncall),
        "REDIS_URL": broker_env,
    }


def invoke(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """The command run in this process (the same code as the subprocess, without the
    interpreter start-up): exit status, stdout, stderr."""
    from click.testing import CliRunner

    from cli.main import cli

    result = CliRunner().invoke(cli, ["notice", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def ok(*args: str, env: dict[str, str]) -> str:
    code, out, err = invoke(*args, env=env)
    assert code == 0, err
    return out


def refused(*args: str, env: dict[str, str]) -> str:
    code, out, err = invoke(*args, env=env)
    assert code == 2, out
    (line,) = err.strip().splitlines()
    assert line.startswith("alert-dispatch: ") and "Traceback" not in err
    return line


def test_create_from_a_file_or_options_then_list_show_and_preview(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "move.yaml").write_text(NOTICE_FILE)
    real = run("create", "--from", str(tmp_path / "move.yaml"), env=cli_env)  # a real process
    assert real.returncode == 0, real.stderr
    created = real.stdout
    assert created.startswith("created notice db-move: DB move\nnext window: ")
    assert "  -1h " in created and "  start " in created
    assert ok("create", *FLAGS, env=cli_env).startswith("created notice cache-flush")
    listed = ok("list", env=cli_env)
    assert "cache-flush" in listed and "db-move" in listed and " api " in listed
    shown = ok("show", "db-move", env=cli_env)
    assert shown.startswith("notice db-move (api)\nname: db-move\ntitle: DB move\n")
    assert "sends: none yet" in shown and "upcoming" in shown
    assert "sms: 1 segment, GSM-7" in ok("preview", "cache-flush", env=cli_env)


def test_each_bad_notice_is_refused_on_one_line_naming_the_field(
    cli_env: dict[str, str],
) -> None:
    def with_flag(option: str, value: str) -> list[str]:
        flags = list(FLAGS)
        flags[flags.index(option) + 1] = value
        return flags

    for flags, words in [
        (with_flag("--contact", "carol"), 'audience.contacts.0: unknown contact "carol"'),
        (with_flag("--sms", "{title} {strat}"), 'templates.sms: unknown placeholder "{strat}"'),
        (with_flag("--start", "2020-01-05 02:00"), "window.start: the window is in the past"),
        ([*FLAGS, "--cron", "0 2 30 2 *"], 'window.cron: "0 2 30 2 *" never fires'),
        (with_flag("--sms", "ж" * 700), "templates.sms: the SMS is 11 segments (UCS-2"),
        (with_flag("--name", "patching"), '"patching" is a notice of the on-call file'),
    ]:
        assert words in refused("create", *flags, env=cli_env), flags
    assert "cache-flush" not in ok("list", env=cli_env)


def test_update_and_cancel_and_what_they_refuse(cli_env: dict[str, str]) -> None:
    ok("create", *FLAGS, env=cli_env)
    before = ok("show", "cache-flush", env=cli_env)
    assert "unknown placeholder" in refused("update", "cache-flush", "--sms", "{x}", env=cli_env)
    assert "window.start" in refused(
        "update", "cache-flush", "--start", "2020-01-05 02:00", env=cli_env
    )
    assert ok("show", "cache-flush", env=cli_env) == before
    assert "defined in the on-call file, which is its source" in refused(
        "update", "patching", "--extend", "30m", env=cli_env
    )
    updated = ok("update", "cache-flush", "--extend", "30m", env=cli_env)
    assert updated.startswith("updated notice cache-flush: Cache flush\nnext window: ")
    assert "correction to 0 already told" in updated
    assert "duration: 3600" in ok("show", "cache-flush", env=cli_env)
    first = ok("cancel", "cache-flush", env=cli_env)
    assert (
        first == "cancelled notice cache-flush: 0 send(s) stopped, 0 message(s) will not be sent\n"
    )
    assert ok("cancel", "cache-flush", env=cli_env) == "notice cache-flush was already cancelled\n"
    assert "is cancelled" in refused("update", "cache-flush", "--extend", "5m", env=cli_env)
    assert 'no notice "nope"' in refused("cancel", "nope", env=cli_env)
    with session_scope(cli_env["DATABASE_URL"]) as session:
        events = session.scalars(
            select(Event).where(Event.kind.like("notice.%")).order_by(Event.id)
        ).all()
        kinds = [event.kind for event in events]
        assert kinds == ["notice.created", "notice.updated", "notice.cancelled"]
        assert all(event.detail["by"].startswith("cli") for event in events)


def _start_send(url: str, config: Path) -> str:
    """Beat's tick when the notice's first reminder is due (its database side)."""
    from shared.notices import store
    from shared.notices.definitions import stored_notice
    from shared.notices.schedule import first_occurrence, sends_of
    from shared.routing.oncall_config import load_config

    with session_scope(url) as session:
        notice = store.known_notices(session)["db-move"]
        assert notice.definition is not None
        item = stored_notice(notice.definition)
        due = sends_of("db-move", item, first_occurrence(item.window))[0]
        started = store.start_send(session, due, item, load_config(config), ("+1",), due.due_at)
        assert started is not None
        return started.send_id


def _deliver(url: str, send_id: str, count: int) -> None:
    """Delivery reports for `count` pending rows; the send is done when none is left."""
    with session_scope(url) as session:
        pending = select(NoticeDelivery).where(
            NoticeDelivery.send_id == send_id, NoticeDelivery.state == "pending"
        )
        rows = session.scalars(pending).all()
        for row in rows[:count]:
            row.state = "delivered"
        send = session.get(NoticeSend, send_id)
        if send is not None and count >= len(rows):
            send.state = "done"


def test_status_plain_once_and_watched_until_done(
    cli_env: dict[str, str], oncall: Path, tmp_path: Path
) -> None:
    (tmp_path / "move.yaml").write_text(NOTICE_FILE)
    ok("create", "--from", str(tmp_path / "move.yaml"), env=cli_env)
    assert "has sent nothing yet" in ok("status", "db-move", env=cli_env)
    url = cli_env["DATABASE_URL"]
    send_id = _start_send(url, oncall)
    _deliver(url, send_id, 1)
    once = ok("status", "db-move", env=cli_env).splitlines()
    assert once[0] == f"notice db-move: {send_id}"
    assert once[1].startswith("1/3 (33.3%) done: handed off 1 · delivered 1 · failed 0")
    assert "left 2 · ETA " in once[1]
    by_id = ok("status", send_id, env=cli_env).splitlines()[1]
    assert by_id.split(" · ETA ")[0] == once[1].split(" · ETA ")[0]
    assert "no send" in refused("status", "db-move/20200101T000000Z/start", env=cli_env)

    watcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "notice",
            "status",
            "db-move",
            "--watch",
            "--interval",
            "0.2",
        ],
        cwd=REPO,
        env={**os.environ, **cli_env},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        header, reading = watcher.stdout.readline(), watcher.stdout.readline()
        assert header.startswith("notice db-move: ") and reading.startswith("1/3 (33.3%)")
        _deliver(url, send_id, 2)
        out, _ = watcher.communicate(timeout=20)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0
    assert out.splitlines()[-1].startswith("3/3 (100.0%) done: handed off 3 · delivered 3")
    assert out.splitlines()[-1].endswith("left 0 · done")


def test_preview_counts_stored_list_numbers_and_notice_opt_outs(
    oncall: Path, database_url: str, tmp_path: Path
) -> None:
    """The preview reaches whom the send will: a list's numbers kept in the database
    join the file's, and a STOP to an earlier notice is skipped like a STOP to a page."""
    from shared.notices.notice_opt_outs import opt_out_of_notices
    from shared.notices.subscriber_store import add_numbers, create_list

    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        session.add(OptOut(destination="+14155550111"))
        create_list(session, "customers", now)
        add_numbers(session, "customers", ["+14155550113"], now)
        opt_out_of_notices(session, "+14155550112", now)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path)}
    result = typed("preview", "db-upgrade", "--file", str(oncall), env=env)
    assert result.returncode == 0, result.stderr
    # alice and the stored +1...0113 reached; +1...0111 (STOP to a page) and
    # +1...0112 (STOP to a notice) skipped.
    assert "; 2 recipient(s), 2 opted out skipped" in result.stdout
