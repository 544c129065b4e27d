"""Processes refuse to start on public default secrets in production or an invalid on-call file.

The rule (shared.startup_checks) is tested as a pure function; the refusal is
tested on the real processes an operator starts (gunicorn as in the Procfile,
`alert-dispatch worker`, `bridge`, Celery beat and worker), which must exit
with the reasons on stderr and no traceback instead of running.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from cli.stack import (
    BACKUP_AUTH_ID,
    BACKUP_AUTH_TOKEN,
    SIMULATOR_AUTH_ID,
    SIMULATOR_AUTH_TOKEN,
    StackConfig,
    free_port,
)
from shared.core.settings import Settings
from shared.routing.route import current_config, load_at_start
from shared.startup_checks import (
    PUBLIC_AUTH_IDS,
    PUBLIC_SECRETS,
    is_simulator_url,
    refusal_lines,
    unsafe_defaults,
)
from simulator.config import SimulatorConfig
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REAL_PLIVO = "https://api.plivo.com"
# Nothing here is public: what an operator who did everything right sets.
REAL = {
    "PLIVO_BASE_URL": REAL_PLIVO,
    "PLIVO_AUTH_ID": "MAREALACCOUNT0000001",
    "PLIVO_AUTH_TOKEN": "r3al-plivo-token",
    "PUBLIC_BASE_URL": "https://pager.example.com",
    "API_TOKENS": "r3al-api-token",
}
VALID_ONCALL = """
contacts:
  ann: {phone: "+14155550121"}
policies:
  main:
    steps: [{targets: [ann], channels: [sms], wait: 5m}]
default_policy: main
"""
INVALID_ONCALL = """contacts:
  bob: {phone: "+1555"}
policies:
  p:
    steps:
      - {targets: [alice], channels: [sms]}
default_policy: q
"""


class OnlyGiven(Settings):
    """Settings from the values given and the defaults, never this process's environment."""

    @classmethod
    def settings_customise_sources(  # type: ignore[override]
        cls, settings_cls: type, init_settings: Any, *_sources: Any, **_named: Any
    ) -> tuple[Any, ...]:
        return (init_settings,)


def settings(**values: str) -> Settings:
    return OnlyGiven(**values)


def clean_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """This environment without any setting of ours, plus `values`."""
    aliases = {field.alias for field in Settings.model_fields.values() if field.alias}
    env = {k: v for k, v in os.environ.items() if k not in aliases and not k.startswith("SIM")}
    env.update(
        {
            "DATA_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
            # gunicorn's control socket and refusal marker: this test's own.
            "XDG_RUNTIME_DIR": str(tmp_path),
            "TMPDIR": str(tmp_path),
            "PORT": str(free_port()),
            **values,
        }
    )
    return env


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("url", "simulator"),
    [
        ("http://127.0.0.1:8010", True),
        ("http://127.8.9.10:8010", True),
        ("http://localhost:8010", True),
        ("http://[::1]:8010", True),
        ("http://simulator:8010", True),
        ("https://api.plivo.com", False),
        ("http://10.0.0.5:8010", False),
        ("http://simulator.example.com", False),
    ],
)
def test_a_simulator_is_a_loopback_host_or_the_compose_service(url: str, simulator: bool) -> None:
    assert is_simulator_url(url) is simulator


def test_development_defaults_are_allowed_against_a_simulator() -> None:
    assert unsafe_defaults(settings()) == []
    assert unsafe_defaults(settings(PLIVO_BASE_URL="http://simulator:8010")) == []


def test_real_plivo_with_the_built_in_defaults_names_each_one() -> None:
    assert unsafe_defaults(settings(PLIVO_BASE_URL=REAL_PLIVO)) == [
        "PLIVO_AUTH_ID is the public simulator default",
        "PLIVO_AUTH_TOKEN is the public simulator default",
        "API_TOKENS holds the public development default (dev-token)",
        "PUBLIC_BASE_URL (http://127.0.0.1:8000) is a loopback address Plivo cannot reach",
    ]


def test_real_plivo_with_real_values_starts() -> None:
    assert unsafe_defaults(settings(**REAL)) == []
    assert refusal_lines(settings(**REAL), oncall_config=True) == []


def test_every_place_a_public_token_can_hide_is_checked() -> None:
    found = unsafe_defaults(
        settings(
            **{
                **REAL,
                "API_TOKENS": "r3al-api-token, change-me",
                "INTEGRATION_TOKENS": "alertmanager=r3al-am,grafana=dev-token",
                "GRAFANA_HMAC_SECRET": "simulator-auth-token",
                "PLIVO_BACKUP_AUTH_ID": BACKUP_AUTH_ID,
                "PLIVO_BACKUP_AUTH_TOKEN": BACKUP_AUTH_TOKEN,
                "PLIVO_BACKUP_BASE_URL": "https://api.eu.plivo.com",
                "PUBLIC_BASE_URL": "http://10.1.2.3:8000",
            }
        )
    )
    assert found == [
        "PLIVO_BACKUP_AUTH_ID is the public backup-simulator default",
        "PLIVO_BACKUP_AUTH_TOKEN is the public backup-simulator default",
        "API_TOKENS holds the docker-compose placeholder (change-me)",
        "INTEGRATION_TOKENS entry grafana is the public development default (dev-token)",
        "GRAFANA_HMAC_SECRET is the public simulator default",
        "PUBLIC_BASE_URL (http://10.1.2.3:8000) is a private address Plivo cannot reach",
    ]


def test_a_real_backup_account_alone_switches_the_checks_on() -> None:
    found = unsafe_defaults(
        settings(
            PLIVO_BACKUP_BASE_URL=REAL_PLIVO,
            PLIVO_BACKUP_AUTH_ID=BACKUP_AUTH_ID,
            PLIVO_BACKUP_AUTH_TOKEN="r3al-backup-token",
        )
    )
    assert "PLIVO_AUTH_TOKEN is the public simulator default" in found
    assert "PLIVO_BACKUP_AUTH_ID is the public backup-simulator default" in found
    assert not any("PLIVO_BACKUP_AUTH_TOKEN" in problem for problem in found)


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def compose_defaults() -> dict[str, str]:
    """The app's environment in docker-compose.yml with every ${VAR:-default} left to default."""
    env = compose()["x-app"]["environment"]
    return {
        name: re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value)) for name, value in env.items()
    }


def test_compose_with_only_plivo_base_url_changed_refuses_everything_public() -> None:
    env = {**compose_defaults(), "PLIVO_BASE_URL": REAL_PLIVO}
    env.pop("CONFIG_FILE")
    found = unsafe_defaults(settings(**env))
    assert found == [
        "PLIVO_AUTH_ID is the public simulator default",
        "PLIVO_AUTH_TOKEN is the public simulator default",
        "API_TOKENS holds the docker-compose placeholder (change-me)",
        "PUBLIC_BASE_URL (http://web:8000) is a single-label host name Plivo cannot reach",
    ]


def test_every_shipped_default_is_known_to_be_public() -> None:
    defaults = Settings.model_fields
    shipped_ids = {
        defaults["plivo_auth_id"].default,
        SimulatorConfig().auth_id,
        SIMULATOR_AUTH_ID,
        BACKUP_AUTH_ID,
    }
    shipped_secrets = {
        defaults["plivo_auth_token"].default,
        defaults["api_tokens"].default,
        SimulatorConfig().auth_token,
        SIMULATOR_AUTH_TOKEN,
        BACKUP_AUTH_TOKEN,
        StackConfig(data_dir=Path(".")).api_token,
    }
    env = compose_defaults()
    shipped_ids.add(env["PLIVO_AUTH_ID"])
    shipped_secrets |= {env["PLIVO_AUTH_TOKEN"], env["API_TOKENS"]}
    assert shipped_ids <= set(PUBLIC_AUTH_IDS)
    assert shipped_secrets <= set(PUBLIC_SECRETS)


# --------------------------------------------------------------------------- real processes


def run_until_exit(
    command: list[str], env: dict[str, str], timeout: float = 75.0
) -> tuple[int, str]:
    """Run `command` and return (status, stderr); fail if it is still running at `timeout`
    (under pytest-timeout's 120 s, so the process group is always ended here)."""
    process = subprocess.Popen(
        with_port(command, env),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command[0]} was still running after {timeout:.0f}s: it started")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    return process.returncode, err


def procfile(name: str) -> list[str]:
    """The Procfile's command for `name`, run from this virtualenv (PORT from the environment)."""
    line = next(
        line for line in (REPO / "Procfile").read_text().splitlines() if line.startswith(f"{name}:")
    )
    text = line.split(":", 1)[1].replace("$(hostname)", "test")
    words = shlex.split(re.sub(r"\$\{PORT:-\d+\}", "$PORT", text))
    return [str(BIN / words[0]), *words[1:]]


def with_port(command: list[str], env: dict[str, str]) -> list[str]:
    return [word.replace("$PORT", env["PORT"]) for word in command]


GUNICORN = procfile("web")
SERVICES = {
    "gunicorn (web)": GUNICORN,
    "alert-dispatch worker": procfile("worker"),
    "celery worker": [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "-c",
        "1",
    ],
    "celery beat (Procfile)": [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.celery_app",
        "beat",
        "--schedule",
        "{tmp}/beat-schedule",
    ],
    "alert-dispatch bridge": [sys.executable, "-m", "cli", "bridge"],
    "alert-dispatch web": [sys.executable, "-m", "cli", "web", "--port", "$PORT"],
}


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_process_refuses_public_defaults_against_real_plivo(
    service: str, tmp_path: Path, redis_url: str
) -> None:
    command = [part.format(tmp=tmp_path) for part in SERVICES[service]]
    env = clean_env(tmp_path, REDIS_URL=redis_url, PLIVO_BASE_URL=REAL_PLIVO)
    status, err = run_until_exit(command, env)
    assert status != 0
    [line] = [line for line in err.splitlines() if "refusing to start" in line]
    assert line.startswith(
        "alert-dispatch: refusing to start: PLIVO_AUTH_ID is the public simulator default; "
        "PLIVO_AUTH_TOKEN is the public simulator default; "
        "API_TOKENS holds the public development default (dev-token); PUBLIC_BASE_URL"
    )
    assert "Traceback" not in err


def test_gunicorn_with_real_values_serves(tmp_path: Path, redis_url: str) -> None:
    """The refusal must not stop a correct production start."""
    port = free_port()
    config = tmp_path / "oncall.yaml"
    config.write_text(VALID_ONCALL)
    env = clean_env(tmp_path, REDIS_URL=redis_url, CONFIG_FILE=str(config), PORT=str(port), **REAL)
    process = subprocess.Popen(
        with_port(GUNICORN, env),
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def answers() -> bool:
        assert process.poll() is None, "gunicorn exited"
        try:
            return (
                requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2).status_code == 200
            )
        except requests.RequestException:
            return False

    try:
        wait_for(answers, timeout=60, what="gunicorn answering")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def config_check_lines(path: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "cli", "config", "check", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    return result.stderr.splitlines()


@pytest.mark.parametrize(
    "service", ["gunicorn (web)", "alert-dispatch web", "alert-dispatch worker", "celery worker"]
)
def test_an_invalid_oncall_file_stops_the_start_with_its_problems(
    service: str, tmp_path: Path, redis_url: str
) -> None:
    bad = tmp_path / "oncall.yaml"
    bad.write_text(INVALID_ONCALL)
    env = clean_env(tmp_path, REDIS_URL=redis_url, CONFIG_FILE=str(bad))
    status, err = run_until_exit(SERVICES[service], env)
    assert status != 0
    assert f"alert-dispatch: refusing to start: CONFIG_FILE {bad} is invalid:" in err
    expected = config_check_lines(bad)
    assert f"{bad}: line 2: contacts.bob.phone" in expected[0]
    lines = err.splitlines()
    start = lines.index(expected[0])
    assert lines[start : start + len(expected)] == expected
    assert "Traceback" not in err


def test_a_broken_edit_after_the_start_keeps_the_last_good_file(tmp_path: Path) -> None:
    path = tmp_path / "oncall.yaml"
    path.write_text(VALID_ONCALL)
    started = load_at_start(path)
    path.write_text(INVALID_ONCALL)
    later = path.stat().st_mtime + 5
    os.utime(path, (later, later))
    assert current_config(path) is started
    path.write_text(VALID_ONCALL.replace("5m", "7m"))
    os.utime(path, (later + 5, later + 5))
    assert current_config(path).policies["main"].steps[0].wait == 420


def test_the_marker_of_a_refused_gunicorn_start_is_per_master(tmp_path: Path) -> None:
    """Two gunicorn starts in a row, refused each time: each reports, neither hangs."""
    env = clean_env(tmp_path, PLIVO_BASE_URL=REAL_PLIVO)
    for _ in range(2):
        started = time.monotonic()
        status, err = run_until_exit(GUNICORN, env)
        assert status == 4, err
        assert err.count("alert-dispatch: refusing to start:") == 1
        assert time.monotonic() - started < 60
