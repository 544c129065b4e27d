"""`ack_timeout` in the on-call file: read as a step's `wait` is, refused with its path
and line when it is not a positive duration, and frozen with the chain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.routing.oncall_config import check_config_text, parse_config
from shared.routing.route import freeze_chain, frozen_ack_timeout, thaw_chain

REPO = Path(__file__).resolve().parents[3]

FILE = """\
contacts:
  alice: {phone: "+14155550101", channels: [sms]}
policies:
  primary:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
    ack_timeout: %s
  plain:
    steps:
      - {targets: [alice], channels: [sms], wait: 5m}
default_policy: primary
"""


@pytest.mark.parametrize(("written", "seconds"), [("30m", 1800), ("1h30m", 5400), ("90", 90)])
def test_ack_timeout_is_a_duration_like_wait(written: str, seconds: int) -> None:
    config = parse_config(FILE % written)
    assert config.policies["primary"].ack_timeout == seconds
    assert config.policies["plain"].ack_timeout is None


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("0", "must be a duration longer than 0, like 30m"),
        ("0s", "must be a duration longer than 0, like 30m"),
        ("-5", "must be a duration longer than 0, like 30m"),
        ("soon", 'not a duration: "soon"'),
        ("yes", "must be a number of seconds or a duration"),
    ],
)
def test_a_bad_or_non_positive_ack_timeout_is_named_with_path_and_line(
    written: str, message: str
) -> None:
    [problem] = check_config_text(FILE % written)
    assert (problem.path, problem.line) == ("policies.primary.ack_timeout", 7)
    assert message in problem.message


def test_config_check_refuses_it_as_the_command_runs(tmp_path: Path) -> None:
    bad = tmp_path / "oncall.yaml"
    bad.write_text(FILE % "0")
    result = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", str(bad)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "line 7: policies.primary.ack_timeout: must be a duration longer than 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_frozen_chain_keeps_its_ack_timeout() -> None:
    config = parse_config(FILE % "30m")
    snapshot = freeze_chain(config, "primary")
    assert thaw_chain(snapshot)[1].ack_timeout == 1800
    assert frozen_ack_timeout(snapshot) == 1800
    assert frozen_ack_timeout(freeze_chain(config, "plain")) is None
    assert frozen_ack_timeout(None) is None
