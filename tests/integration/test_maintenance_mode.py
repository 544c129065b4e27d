"""Maintenance mode for alerts, on the real system: receiver, worker, beat, Plivo simulator.

While a notice's window runs, an alert matching its `hold` rule is stored and
listed as held (API and `alert-dispatch alerts`) and pages nobody; when the
window ends the tick releases it and it pages then, unless it was resolved
meanwhile. An alert matching a `downgrade` rule pages at once, one severity
lower, by the route for that severity. A cancelled notice releases its held
alerts at once. Alerts that match nothing page as always.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from cli.main import cli
from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import utcnow
from shared.notices.store import API, cancel_notice
from tests.polling import wait_for

LOUD = "+16285550101"  # paged for critical alerts
QUIET = "+16285550102"  # paged for everything else
HOLD_S = 8.0  # from the file in force to the end of the hold window


def oncall(hold_end: datetime) -> str:
    started = hold_end - timedelta(hours=1)
    return f"""
contacts:
  loud: {{phone: "{LOUD}", channels: [sms]}}
  quiet: {{phone: "{QUIET}", channels: [sms]}}
policies:
  critical:
    steps: [{{targets: [loud], channels: [sms], wait: 10m}}]
  normal:
    steps: [{{targets: [quiet], channels: [sms], wait: 10m}}]
routes:
  - {{match: {{severity: critical}}, policy: critical}}
default_policy: normal
notices:
  db-upgrade:
    title: Database upgrade
    window: {{start: "{started:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [end+1h]
    audience: {{contacts: [quiet]}}
    templates: {{sms: "{{title}} {{start}}"}}
    maintenance: {{match: {{service: db, env: prod}}, action: hold}}
  web-deploy:
    title: Web deploy
    window: {{start: "{started:%Y-%m-%d %H:%M:%S}", duration: 2h, time_zone: UTC}}
    reminders: [end+1h]
    audience: {{contacts: [quiet]}}
    templates: {{sms: "{{title}} {{start}}"}}
    maintenance: {{match: {{service: web}}, action: downgrade}}
  cache-move:
    title: Cache move
    window: {{start: "{started:%Y-%m-%d %H:%M:%S}", duration: 3h, time_zone: UTC}}
    reminders: [end+1h]
    audience: {{contacts: [quiet]}}
    templates: {{sms: "{{title}} {{start}}"}}
    maintenance: {{match: {{service: cache}}, action: hold}}
"""


class System:
    def __init__(self, stack: Stack, hold_end: datetime) -> None:
        self.stack, self.hold_end = stack, hold_end
        self.headers = {"Authorization": f"Bearer {stack.config.api_token}"}

    def post(self, summary: str, severity: str, **labels: str) -> int:
        body = {"summary": summary, "severity": severity, "labels": labels}
        answer = requests.post(
            f"{self.stack.web_url}/api/v1/alerts", json=body, headers=self.headers, timeout=10
        )
        assert answer.status_code == 202, answer.text
        return int(answer.json()["id"])

    def alert(self, alert_id: int) -> dict[str, Any]:
        answer = requests.get(
            f"{self.stack.web_url}/api/v1/alerts/{alert_id}", headers=self.headers, timeout=10
        )
        return dict(answer.json())

    def listed(self) -> dict[int, dict[str, Any]]:
        answer = requests.get(
            f"{self.stack.web_url}/api/v1/alerts", headers=self.headers, timeout=10
        )
        return {item["id"]: item for item in answer.json()["alerts"]}

    def texts(self) -> list[tuple[float, str, str]]:
        """(time at the simulator, destination, text) of every SMS accepted."""
        seen = requests.get(f"{self.stack.simulator_url}/_sim/requests", timeout=5).json()
        return [
            (r["time"], "+" + str(r["body"]["dst"]), str(r["body"]["text"]))
            for r in seen
            if r["method"] == "POST" and r["path"].endswith("/Message/") and r["status"] == 202
        ]

    def texts_about(self, summary: str) -> list[tuple[float, str, str]]:
        return [t for t in self.texts() if summary in t[2]]

    def cli_alerts(self) -> str:
        """`alert-dispatch alerts`, run in this process (a subprocess would only add its start)."""
        env = {"DATABASE_URL": self.stack.database_url, "DATA_DIR": str(self.stack.data_dir)}
        done = CliRunner().invoke(cli, ["alerts"], env=env)
        assert done.exit_code == 0, done.output
        return done.output


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir: Path = tmp_path_factory.mktemp("maintenance")
    config = data_dir / "oncall.yaml"
    config.write_text(oncall(datetime.now(UTC) - timedelta(hours=2)))  # no window yet
    stack = Stack(
        StackConfig(
            data_dir=data_dir,
            worker_concurrency=1,
            with_beat=True,
            extra_env={"CONFIG_FILE": str(config), "BUNDLE_WINDOW_S": "0"},
        )
    )
    with stack:
        stack.wait_for_workers()
        hold_end = (datetime.now(UTC) + timedelta(seconds=HOLD_S)).replace(microsecond=0)
        config.write_text(oncall(hold_end))  # the processes read the file anew
        yield System(stack, hold_end)


def test_held_alerts_page_when_the_window_ends_and_downgraded_ones_page_lower_at_once(
    system: System,
) -> None:
    held = system.post("db primary lagging", "critical", service="db", env="prod")
    closed = system.post("db replica lagging", "warning", service="db", env="prod")
    # Resolved once it is held (routing holds it): resolved before, it was never held.
    wait_for(
        lambda: (system.alert(closed).get("maintenance") or {}).get("held"),
        timeout=15,
        what="the warning held",
    )
    resolve = requests.post(
        f"{system.stack.web_url}/api/v1/alerts/{closed}/resolve", headers=system.headers, timeout=10
    )
    assert resolve.status_code == 200
    lowered = system.post("web 5xx rising", "critical", service="web")
    untouched = system.post("payments down", "critical", service="payments")

    # Alerts matching nothing page as always; a downgraded one pages at once, lower.
    wait_for(lambda: system.texts_about("payments down"), timeout=15, what="the normal page")
    [(_, to, text)] = wait_for(lambda: system.texts_about("web 5xx rising"), timeout=15)
    assert (to, text.startswith("[ERROR]")) == (QUIET, True)  # the route for `error`
    view = system.alert(lowered)
    assert (view["severity"], view["maintenance"]["text"]) == (
        "error",
        "downgraded from critical (maintenance web-deploy)",
    )

    # The held alert pages nobody until the window's end, then pages as it would have.
    [(sent_at, to, text)] = wait_for(
        lambda: system.texts_about("db primary lagging"), timeout=HOLD_S + 15, what="release"
    )
    assert sent_at >= system.hold_end.timestamp() - 0.5
    assert (to, text.startswith("[CRITICAL]")) == (LOUD, True)
    released = system.alert(held)
    held_events = [e for e in released["timeline"] if e["kind"] == "alert.held"]
    assert [e["detail"]["until"] for e in held_events] == [system.hold_end.isoformat()]
    kinds = [entry["kind"] for entry in released["timeline"]]
    assert kinds.index("alert.held") < kinds.index("alert.released")
    assert released["maintenance"]["held"] is False
    assert released["maintenance"]["text"].startswith("was held (maintenance db-upgrade), paged")
    time.sleep(1.5)  # a few more ticks: nothing for the one resolved while held, nothing twice
    assert system.texts_about("db replica lagging") == []
    assert system.alert(closed)["maintenance"]["text"] == (
        "was held (maintenance db-upgrade), resolved while held"
    )
    assert len(system.texts_about("db primary lagging")) == 1
    assert len(system.texts_about("payments down")) == 1
    assert untouched in system.listed()


def test_a_held_alert_is_listed_as_held_and_released_when_its_notice_is_cancelled(
    system: System,
) -> None:
    held = system.post("cache evictions", "error", service="cache")
    shown = wait_for(lambda: system.listed()[held]["maintenance"], what="the hold")
    end = system.hold_end + timedelta(hours=2)
    # The end's date is shown too when it is not today (a run late in the UTC day).
    until = f"{end:%H:%M} UTC" if end.date() == utcnow().date() else f"{end:%Y-%m-%d %H:%M} UTC"
    assert (shown["held"], shown["text"]) == (True, f"held (maintenance cache-move until {until})")
    assert f"held (maintenance cache-move until {until})" in system.cli_alerts()
    assert system.texts_about("cache evictions") == []
    with session_scope(system.stack.database_url) as session:
        cancel_notice(session, "cache-move", utcnow(), source=API)
    [(_, to, _text)] = wait_for(
        lambda: system.texts_about("cache evictions"), timeout=10, what="the release"
    )
    assert to == QUIET
