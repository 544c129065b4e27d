"""A real Prometheus for tests: the packaged binary, the deployed rules, this machine's targets."""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from cli.stack import free_port
from tests.polling import wait_for
from tests.unit.deploy.tools import require

REPO = Path(__file__).resolve().parents[3]
DEPLOYED = REPO / "deploy" / "prometheus"


@dataclass
class Prometheus:
    """The packaged Prometheus on a temporary directory, with the deployed rules."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self, targets: dict[str, str]) -> dict[str, Any]:
        """deploy/prometheus/prometheus.yml with its jobs pointed at `targets` (job -> host:port),
        every second, the rule files by absolute path, and no Alertmanager."""
        config = yaml.safe_load((DEPLOYED / "prometheus.yml").read_text())
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [str(DEPLOYED / pattern) for pattern in config["rule_files"]]
        config.pop("alerting")
        for job in config["scrape_configs"]:
            job.pop("dns_sd_configs")
            job["static_configs"] = [{"targets": [targets[job["job_name"]]]}]
        return config

    def start(self, targets: dict[str, str]) -> Prometheus:
        path = self.data_dir / "prometheus.yml"
        path.write_text(yaml.safe_dump(self.config(targets)))
        with (self.data_dir / "prometheus.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    require("prometheus"),
                    f"--config.file={path}",
                    f"--storage.tsdb.path={self.data_dir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, timeout=30, what="prometheus ready")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            log = (self.data_dir / "prometheus.log").read_text()[-2000:]
            raise AssertionError(f"prometheus exited:\n{log}")
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def query(self, expr: str) -> list[dict[str, Any]]:
        """The instant vector of `expr` now; a query Prometheus refuses fails the test."""
        response = requests.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        assert response.status_code == 200, (expr, response.text)
        return response.json()["data"]["result"]

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule, recording and alerting, with its health and last error."""
        body = requests.get(f"{self.url}/api/v1/rules", timeout=10).json()
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]

    def label_values(self, label: str) -> list[str]:
        """Every value `label` has in any series Prometheus holds (`__name__`: metric names)."""
        response = requests.get(f"{self.url}/api/v1/label/{label}/values", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()["data"]
