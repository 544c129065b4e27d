"""Every process's counts reach a scrape, exactly, as the Procfile runs them.

The receiver runs under gunicorn with two workers (the Procfile's own `web`
line) and the worker with two prefork children; nobody sets
PROMETHEUS_MULTIPROC_DIR, so what is tested is the processes' own set-up. One
scrape of the receiver (whichever gunicorn worker answers) and one of the
worker's metrics server must show every alert, send and delivery report (a
send in either: the receiver sends the first page of an alert it routes on
arrival).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from cli.stack import SIMULATOR_AUTH_ID, SIMULATOR_AUTH_TOKEN, free_port
from shared.core.embedded_redis import EmbeddedRedis, ensure_embedded_redis
from tests.integration.test_slow_clients import procfile_command
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
TOKEN = "metrics-as-deployed-token"
ALERTS = 6


@dataclass
class Deployment:
    """Simulator, gunicorn (Procfile `web`) and one worker on one DATA_DIR."""

    data_dir: Path
    web_port: int = field(default_factory=free_port)
    simulator_port: int = field(default_factory=free_port)
    worker_metrics_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    redis: EmbeddedRedis | None = None

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def worker_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_metrics_port}/metrics"

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
        env.update(
            {
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                "DATA_DIR": str(self.data_dir),
                "DATABASE_URL": f"sqlite:///{self.data_dir / 'alert-dispatch.db'}",
                "REDIS_URL": self.redis.url if self.redis else "",
                "PORT": str(self.web_port),
                "WEB_CONCURRENCY": "2",
                "PUBLIC_BASE_URL": self.web_url,
                "API_TOKENS": TOKEN,
                "PLIVO_AUTH_ID": SIMULATOR_AUTH_ID,
                "PLIVO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
                "PLIVO_BASE_URL": f"http://127.0.0.1:{self.simulator_port}",
                "WORKER_METRICS_PORT": str(self.worker_metrics_port),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _spawn(self, name: str, command: list[str]) -> None:
        with (self.data_dir / f"{name}.log").open("ab") as out:
            self.processes[name] = subprocess.Popen(
                command,
                cwd=REPO,
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self, name: str) -> str:
        return (self.data_dir / f"{name}.log").read_text(errors="replace")[-3000:]

    def _answers(self, name: str, url: str) -> bool:
        process = self.processes[name]
        if process.poll() is not None:
            raise AssertionError(f"{name} exited:\n{self.log(name)}")
        try:
            return requests.get(url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def start(self) -> Deployment:
        from shared.core.db import upgrade

        self.redis = ensure_embedded_redis(self.data_dir)
        upgrade(self.env()["DATABASE_URL"])
        simulator = [sys.executable, "-m", "cli", "simulator", "--port", str(self.simulator_port)]
        simulator += ["--auth-id", SIMULATOR_AUTH_ID, "--auth-token", SIMULATOR_AUTH_TOKEN]
        self._spawn("simulator", [*simulator, "--receiver-url", self.web_url])
        self._spawn("web", ["bash", "-c", f"exec {procfile_command('web')}"])
        worker = [sys.executable, "-m", "cli", "worker", "-c", "2", "--name", "metrics-test"]
        self._spawn("worker", worker)
        for name, url in (
            ("simulator", f"http://127.0.0.1:{self.simulator_port}/_sim/requests"),
            ("web", f"{self.web_url}/healthz"),
            ("worker", self.worker_metrics_url),
        ):
            wait_for(lambda n=name, u=url: self._answers(n, u), timeout=60, what=f"{name} up")
        return self

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes.pop(name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        if self.redis is not None:
            self.redis.stop()
            self.redis = None


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One deployment for the module: starting gunicorn, a worker and the simulator
    costs more than either test. Each test counts from what the scrape held before it
    (zero after a start), and each pages numbers of its own."""
    running = Deployment(tmp_path_factory.mktemp("metrics-as-deployed"))
    try:
        yield running.start()
    finally:
        running.stop()


def samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The `name` samples of an exposition text, by their label set."""
    found: dict[frozenset[tuple[str, str]], float] = {}
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, value = line.rsplit(" ", 1)
        labels = series[len(name) + 1 : -1]
        pairs = (part.split("=", 1) for part in labels.split(",") if part)
        found[frozenset((key, raw.strip('"')) for key, raw in pairs)] = float(value)
    return found


def total(text: str, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for key, v in samples(text, name).items() if wanted <= key)


def page_and_wait(deployment: Deployment, count: int, first_number: int) -> None:
    """Post `count` alerts, each to its own number, until every SMS is delivered."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    ids = []
    for index in range(count):
        body = {
            "summary": f"disk full on db{index}",
            "severity": "critical",
            "recipients": [f"+1415555{first_number + index:04d}"],
        }
        response = requests.post(
            f"{deployment.web_url}/api/v1/alerts", json=body, headers=headers, timeout=10
        )
        assert response.status_code == 202, response.text
        ids.append(response.json()["id"])

    def delivered() -> bool:
        for alert_id in ids:
            url = f"{deployment.web_url}/api/v1/alerts/{alert_id}"
            notes = requests.get(url, headers=headers, timeout=5).json()["notifications"]
            if not notes or notes[0]["state"] != "delivered":
                return False
        return True

    wait_for(delivered, timeout=90, interval=0.3, what=f"{count} SMS delivered")


REPORTS = "alert_dispatch_delivery_reports_total"


def scrape(deployment: Deployment) -> tuple[str, str]:
    """Both scrapes, once the worker has counted every delivery report the receiver took
    (it counts one just after the commit that makes its text delivered)."""

    def settled() -> tuple[str, str] | None:
        web = requests.get(f"{deployment.web_url}/metrics", timeout=5).text
        worker = requests.get(deployment.worker_metrics_url, timeout=5).text
        return (web, worker) if total(web, REPORTS) == total(worker, REPORTS) else None

    return wait_for(settled, timeout=30, what="delivery reports counted by the worker")


def assert_exact_counts(
    web: str, worker: str, count: int, before: tuple[str, str] = ("", "")
) -> None:
    """The receiver counts accepted alerts and the delivery reports it took; the worker
    counts sends and what applying each report did: `count` of each since the scrapes
    `before` (none: since the processes started)."""

    def web_total(name: str, **labels: str) -> float:
        return total(web, name, **labels) - total(before[0], name, **labels)

    def worker_total(name: str, **labels: str) -> float:
        return total(worker, name, **labels) - total(before[1], name, **labels)

    accepted = "alert_dispatch_alerts_accepted_total"
    assert web_total(accepted, source="api", outcome="created") == count, web
    for status in ("queued", "sent", "delivered"):
        assert web_total(REPORTS, status=status, outcome="accepted") == count, (status, web)
        assert worker_total(REPORTS, status=status, outcome="recorded") == count, (status, worker)
    assert web_total(REPORTS) == 3 * count, web
    assert worker_total(REPORTS) == 3 * count, worker
    # A page is counted by the process that sent it: a worker, or a receiver that routed
    # its alert on arrival (ROUTE_ON_ARRIVAL). The two scrapes add up to every send.
    sent = "alert_dispatch_sms_sent_total"
    assert web_total(sent, result="accepted") + worker_total(sent, result="accepted") == count
    assert web_total(sent) + worker_total(sent) == count, (web, worker)


def test_every_process_counts_reach_one_scrape(deployment: Deployment) -> None:
    before = scrape(deployment)
    page_and_wait(deployment, ALERTS, first_number=1000)
    web, worker = scrape(deployment)
    assert_exact_counts(web, worker, ALERTS, before)
    # Each process keeps its children's files in a directory of its own under DATA_DIR.
    assert list((deployment.data_dir / "metrics" / "web").glob("counter_*.db"))
    assert list((deployment.data_dir / "metrics" / "worker").glob("*/counter_*.db"))


def test_a_restart_counts_from_zero(deployment: Deployment) -> None:
    page_and_wait(deployment, 2, first_number=2000)
    deployment.stop()
    deployment.start()
    web, worker = scrape(deployment)
    assert_exact_counts(web, worker, 0)
    page_and_wait(deployment, 3, first_number=3000)
    web, worker = scrape(deployment)
    assert_exact_counts(web, worker, 3)
