"""The alert-dispatch command as an on-call engineer types it.

The entry point and its exit statuses are tried in a real subprocess; the
ack/resolve story runs the same click commands in this process, since each
subprocess costs a second or more of imports and the story needs seven.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from cli.main import cli
from shared.alerts.schemas import AlertIn
from shared.alerts.store import accept_alert
from shared.core.db import session_scope
from shared.core.models import Alert, Notification
from shared.notifications.planning import plan_notification

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def invoke(*args: str, env: dict[str, str]) -> Result:
    """The command as typed, run in this process on this test's database."""
    return CliRunner().invoke(cli, list(args), env=env)


def test_config_check_accepts_the_shipped_example():
    result = run("config", "check", "config/oncall.example.yaml")
    assert result.returncode == 0 and result.stdout.strip().endswith(": OK")


def test_config_check_names_every_problem_with_its_path(tmp_path):
    bad = tmp_path / "oncall.yaml"
    bad.write_text(
        "contacts:\n  bob: {phone: '+1555'}\npolicies:\n  p:\n    steps:\n"
        "      - {targets: [alice], channels: [sms]}\ndefault_policy: q\n"
    )
    result = run("config", "check", str(bad))
    assert result.returncode == 1
    assert "contacts.bob.phone" in result.stderr
    assert 'policies.p.steps[0].targets[0]: unknown contact or team "alice"' in result.stderr
    assert "policies.p.steps[0].wait: required" in result.stderr
    assert 'default_policy: unknown policy "q"' in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_setting_is_one_clear_line(tmp_path):
    result = run("alerts", env={"PLIVO_AUTH_ID": "nope", "DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "alert-dispatch: configuration error: PLIVO_AUTH_ID: Value error, must be 20 letters "
        "and digits starting with MA or SA"
    ]


def test_alerts_ack_and_resolve(database_url, broker_env, tmp_path):
    env = {"DATABASE_URL": database_url, "REDIS_URL": broker_env, "DATA_DIR": str(tmp_path)}
    with session_scope(database_url) as session:
        alert_id = accept_alert(
            session,
            AlertIn(summary="disk full on db1", severity="critical", recipients=["+14155550101"]),
        ).alert_id
        plan_notification(
            session, alert_id=alert_id, channel="sms", destination="+14155550101", text="x"
        )
    listed = invoke("alerts", env=env)
    assert listed.exit_code == 0 and "disk full on db1" in listed.stdout

    acked = invoke("ack", str(alert_id), "--by", "maria", env=env)
    assert acked.exit_code == 0
    assert "acknowledged by maria; 1 pending notifications cancelled" in acked.stdout
    again = invoke("ack", str(alert_id), env=env)
    assert "already acknowledged" in again.stdout
    assert "ack by maria (cli)" in invoke("alerts", env=env).stdout

    assert invoke("resolve", str(alert_id), env=env).exit_code == 0
    with session_scope(database_url) as session:
        alert = session.get(Alert, alert_id)
        assert (alert.status, alert.acknowledged_by, alert.acknowledged_via) == (
            "resolved",
            "maria",
            "cli",
        )
        assert {n.state for n in session.query(Notification)} == {"cancelled"}
    assert "no open alerts" in invoke("alerts", env=env).stdout
    # A real process once more: the exit status a script would see.
    missing = run("ack", "999999", env=env)
    assert missing.returncode == 1 and "no alert 999999" in missing.stderr
