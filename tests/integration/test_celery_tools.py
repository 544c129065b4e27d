"""Celery's own tools on a running stack: `celery inspect` and Flower see the workers
and their tasks, with nothing configured beyond what the processes already read
(REDIS_URL and the rest of the environment)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cli.stack import Stack, StackConfig, free_port
from tests.polling import wait_for
from worker import task_names

REPO = Path(__file__).resolve().parents[2]
FLOWER_AUTH = ("ops", "flower-test-password")
NODE = f"worker1@{socket.gethostname()}"  # the stack names its worker worker1@%h


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Alerts are routed by the worker, where Flower sees the task: an idle receiver
    # routing one itself hands no task over (worker.route_on_arrival).
    config = StackConfig(
        data_dir=tmp_path_factory.mktemp("celery-tools"), extra_env={"ROUTE_ON_ARRIVAL": "false"}
    )
    with Stack(config) as s:
        s.wait_for_workers()
        yield s


def celery(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """`celery -A worker.celery_app ...` as an operator runs it, in the stack's environment."""
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", *args],
        cwd=REPO,
        env=stack.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def worker_names(replies: dict[str, object]) -> list[str]:
    return sorted(name.split("@")[0] for name in replies)


def test_inspect_active_lists_the_running_worker(stack: Stack) -> None:
    # Without a destination Celery waits the whole timeout for stragglers: keep it short.
    result = celery(stack, "inspect", "active", "--timeout", "2", "--json")
    assert result.returncode == 0, result.stderr
    replies = json.loads(result.stdout)
    assert worker_names(replies) == ["worker1"]
    assert all(isinstance(tasks, list) for tasks in replies.values())


def test_inspect_registered_names_the_tasks(stack: Stack) -> None:
    # Naming the worker (`-d`) returns as soon as it answered.
    result = celery(stack, "inspect", "registered", "-d", NODE, "--timeout", "10", "--json")
    assert result.returncode == 0, result.stderr
    [registered] = json.loads(result.stdout).values()
    for name in (task_names.DISPATCH_ALERT, task_names.SEND_SMS, task_names.TICK):
        assert name in registered


@pytest.fixture
def flower(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """Flower on the stack's broker, with basic auth as it should run anywhere but here."""
    if importlib.util.find_spec("flower") is None:
        pytest.skip("flower is not installed (pip install '.[monitoring]')")
    port = free_port()
    log = (tmp_path / "flower.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker.celery_app",
            "flower",
            "--address=127.0.0.1",
            f"--port={port}",
            f"--basic-auth={':'.join(FLOWER_AUTH)}",
            f"--db={tmp_path / 'flower.db'}",
        ],
        cwd=REPO,
        env=stack.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


def flower_get(url: str, path: str) -> object | None:
    try:
        response = requests.get(f"{url}{path}", auth=FLOWER_AUTH, timeout=5)
    except requests.ConnectionError:
        return None  # not listening yet
    return response.json() if response.status_code == 200 else None


def test_flower_finds_the_worker_and_its_tasks(stack: Stack, flower: str) -> None:
    wait_for(lambda: flower_get(flower, "/api/workers") is not None, timeout=20, what="flower")
    assert requests.get(f"{flower}/api/workers", timeout=5).status_code == 401  # no password

    def workers() -> list[str]:
        found = flower_get(flower, "/api/workers?refresh=1") or {}
        return worker_names(found)  # type: ignore[arg-type]

    assert wait_for(workers, timeout=20, what="flower to see the worker") == ["worker1"]

    # Flower turns task events on every few seconds; the operator's command does it now.
    enabled = celery(stack, "control", "enable_events", "-d", NODE, "--timeout", "10")
    assert enabled.returncode == 0, enabled.stderr
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json={"summary": "flower sees this", "severity": "warning", "recipients": ["+14155550141"]},
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text

    def dispatched() -> list[dict[str, object]]:
        tasks = flower_get(flower, "/api/tasks") or {}
        return [
            task
            for task in tasks.values()  # type: ignore[union-attr]
            if task.get("name") == task_names.DISPATCH_ALERT and task.get("state") == "SUCCESS"
        ]

    [task] = wait_for(dispatched, timeout=20, what="flower to see the dispatch task")
    assert str(task["worker"]).startswith("worker1@")


def test_the_worker_starts_without_a_second_spent_waiting_for_neighbours(stack: Stack) -> None:
    """Celery's mingle waits a second at every start for other workers' revoked tasks;
    nothing here revokes tasks, and a worker restarted after a death pages again that
    second sooner. `inspect` and Flower above still see it (they ask, not listen)."""
    log = (stack.logs_dir / "worker1.log").read_text(errors="replace")
    assert "ready." in log
    assert "mingle" not in log


def test_waiting_for_a_worker_that_never_answers_names_it_and_gives_up(stack: Stack) -> None:
    from cli.stack import wait_for_celery_workers
    from shared.core.embedded_redis import broker_url_for

    broker = broker_url_for(stack.redis_url)
    wait_for_celery_workers(broker, ["worker1"], timeout=10)  # the running worker answers
    with pytest.raises(RuntimeError, match=r"\['worker1', 'worker9'\] did not answer within 2s"):
        wait_for_celery_workers(broker, ["worker1", "worker9"], timeout=2)
