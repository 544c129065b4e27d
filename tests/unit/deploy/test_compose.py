"""docker-compose.yml runs the monitoring stack wired to this system, and compose accepts it.

Alertmanager must reach this system's own Alertmanager endpoint with a token
the receiver accepts, or the system cannot page about itself; the Watchdog
must leave for the external dead-man's switch. Both are wiring between three
files (docker-compose.yml, deploy/alertmanager/alertmanager.yml,
deploy/prometheus/*), checked here without a Docker daemon.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask

from shared.alerts.integration_auth import parse_integration_tokens
from shared.core.settings import Settings
from webhooks.integrations import bp as integrations

REPO = Path(__file__).resolve().parents[3]
SERVICES = {"redis", "postgres", "migrate", "web", "worker", "beat"} | {
    "prometheus",
    "grafana",
    "alertmanager",
}


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    pytest.skip(
        "docker-compose is not installed (apt-get install docker-compose, or Docker's "
        "compose plugin); see deploy/README.md"
    )


def resolved(**env: str) -> dict[str, Any]:
    """The compose file as compose reads it, with `env` set (no Docker daemon needed)."""
    clean = {k: v for k, v in os.environ.items() if k not in {"ALERTMANAGER_TOKEN", "WATCHDOG_URL"}}
    result = subprocess.run(
        [*compose_command(), "-f", "docker-compose.yml", "config"],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def raw_compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def alertmanager_config() -> dict[str, Any]:
    return yaml.safe_load((REPO / "deploy/alertmanager/alertmanager.yml").read_text())


def test_compose_accepts_the_file_with_every_service() -> None:
    config = resolved()
    assert set(config["services"]) >= SERVICES


def test_every_file_compose_mounts_is_in_the_repository() -> None:
    for name, service in raw_compose()["services"].items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"


def test_alertmanager_posts_to_the_receivers_alertmanager_endpoint() -> None:
    app = Flask(__name__)
    app.config["SETTINGS"] = Settings(_env_file=None, INTEGRATION_TOKENS="alertmanager=x")
    app.register_blueprint(integrations)
    post_routes = {rule.rule for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    config = alertmanager_config()
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    [webhook] = receivers[config["route"]["receiver"]]["webhook_configs"]
    assert webhook["url"].startswith("http://web:8000/")
    assert webhook["url"].removeprefix("http://web:8000") in post_routes
    assert webhook["send_resolved"] is True


def test_the_receiver_accepts_the_token_alertmanager_sends() -> None:
    config = resolved(ALERTMANAGER_TOKEN="self-paging-secret", INTEGRATION_TOKENS="grafana=g")
    services = config["services"]
    tokens = parse_integration_tokens(services["web"]["environment"]["INTEGRATION_TOKENS"])
    assert tokens == {"alertmanager": ("self-paging-secret",), "grafana": ("g",)}
    alertmanager = services["alertmanager"]
    assert alertmanager["environment"]["ALERTMANAGER_TOKEN"] == "self-paging-secret"
    [startup] = alertmanager["command"]
    [webhook] = next(
        r for r in alertmanager_config()["receivers"] if r["name"] == "alert-dispatch"
    )["webhook_configs"]
    token_file = webhook["http_config"]["authorization"]["credentials_file"]
    assert f'"$$ALERTMANAGER_TOKEN" > {token_file}' in startup
    assert any(mount.startswith(str(Path(token_file).parent)) for mount in alertmanager["tmpfs"])


def test_watchdog_goes_to_the_external_watcher_and_stops_while_self_paging_is_broken() -> None:
    config = alertmanager_config()
    [watchdog_route] = [
        route
        for route in config["route"]["routes"]
        if route["matchers"] == ['alertname="Watchdog"']
    ]
    assert watchdog_route["repeat_interval"] == "1m"
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    [webhook] = receivers[watchdog_route["receiver"]]["webhook_configs"]
    [startup] = resolved(WATCHDOG_URL="https://hc.example/ping/x")["services"]["alertmanager"][
        "command"
    ]
    assert f'"$$WATCHDOG_URL" > {webhook["url_file"]}' in startup
    [inhibit] = [
        rule
        for rule in config["inhibit_rules"]
        if rule["target_matchers"] == ['alertname="Watchdog"']
    ]
    [source] = inhibit["source_matchers"]
    label = source.split("=")[0]
    rules = (REPO / "deploy/prometheus/rules/dispatch.yml").read_text()
    assert f'{label}: "true"' in rules


def test_prometheus_loads_the_rules_and_sends_to_alertmanager() -> None:
    services = raw_compose()["services"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    config = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    assert config["rule_files"] == ["rules/*.yml"]
    [target] = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert target == "alertmanager:9093"
