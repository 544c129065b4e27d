"""No full phone number in any process's output, at any level, however it is written.

Real processes at LOG_LEVEL=DEBUG: the worker (`alert-dispatch worker`, its
Celery child and the pool's children), beat as the Procfile starts it, the
receiver, the simulator, and gunicorn with the Procfile's command and its
access log on. Everything they print is read back and searched.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from cli.stack import SIMULATOR_AUTH_TOKEN, Stack, StackConfig, free_port
from shared.core.phone import mask, mask_numbers_in
from shared.plivo.signature import sign_request_headers
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)

NUMBER = "+14155550177"
MASKED = mask(NUMBER)  # +1********77
# The same number as people, Plivo, reprs and URLs write it.
WRITTEN = [
    NUMBER,
    "14155550177",
    "+1 415 555 0177",
    "+1-415-555-0177",
    "(415) 555-0177",
    "415.555.0177",
    "%2B14155550177",
    "%2B1%20415%20555%200177",
]
# Any of them, with URL escapes read as gaps: 415, 555 and 0177 in a row.
_FULL = re.compile(r"415\D{0,3}555\D{0,3}0177")
_URL_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")

ONCALL = f"""
contacts:
  paged: {{phone: "{NUMBER}", channels: [sms]}}
policies:
  texts:
    steps:
      - {{targets: [paged], channels: [sms], wait: 60}}
default_policy: texts
"""


def full_numbers_in(output: str) -> list[str]:
    """Lines of `output` that still hold the number in any way of writing it."""
    return [line for line in output.splitlines() if _FULL.search(_URL_ESCAPE.sub(" ", line))]


def procfile_command(name: str) -> str:
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} process in the Procfile")


# -- the masking itself ------------------------------------------------------------


@pytest.mark.parametrize("written", WRITTEN)
@pytest.mark.parametrize(
    "around",
    ["{}", "to={}&x=1", "'{}'", '{{"to": "{}"}}', "ValueError: bad number {}.", "args=['{}', 3]"],
)
def test_every_way_of_writing_a_number_is_masked(written, around):
    line = around.format(written)
    masked = mask_numbers_in(line)
    assert full_numbers_in(masked) == [], masked
    assert "77" in masked  # the last two digits stay, to tell people apart


@pytest.mark.parametrize(
    "line",
    [
        "2026-12-02 00:00:21,938 +0000 GET /healthz",
        "task 123e4567-e89b-12d3-a456-426614174000 succeeded in 0.0034874199999990196s",
        "stream entry 1796169763706-0, port 6379, 12 retries, at 2026-12-02T00:00:21+00:00",
    ],
)
def test_timestamps_ids_and_counts_are_left_alone(line):
    assert mask_numbers_in(line) == line


# -- the worker, its children and beat ------------------------------------------------


def _page_and_reply(stack: Stack) -> None:
    """Page NUMBER by SMS through the receiver and acknowledge it with a reply."""
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json={"summary": "disk full on db1", "severity": "critical"},
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text

    def texts() -> list[dict]:
        messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=5).json()
        return [m for m in messages if m["dst"].lstrip("+") == NUMBER.lstrip("+")]

    [page] = wait_for(texts, timeout=60, what="the page reaching the simulator")
    code = re.search(r"Reply (\d+)A", page["text"]).group(1)
    answer = requests.post(
        f"{stack.simulator_url}/_sim/inbound_sms",
        json={
            "from": NUMBER,
            "to": "+14155550000",
            "text": f"{code}a",
            "url": f"{stack.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    ).json()
    assert answer["status"] == 200
    wait_for(lambda: len(texts()) >= 2, timeout=60, what="the acknowledgement reply")


def _send_tasks_naming_the_number(stack: Stack) -> None:
    """Tasks whose arguments hold the number, as any producer on the broker can send:
    the worker's main process logs an unknown one with its whole body, and a pool
    child logs the TypeError (with traceback) of a known one called wrongly."""
    from celery import Celery

    from shared.core.embedded_redis import broker_url_for

    producer = Celery(broker=broker_url_for(stack.redis_url))
    try:
        producer.send_task("no.such.task", args=WRITTEN, queue="notify")
        producer.send_task(
            "escalation.fire_step",
            kwargs={"alert_id": 1, "step": 0, "round": 0, "+1 (415) 555-0177": 1},
            queue="ingest",
        )
    finally:
        producer.close()


def test_worker_pool_children_and_beat_at_debug_print_no_full_number(tmp_path, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("masking")
    config_file = data_dir / "oncall.yaml"
    config_file.write_text(ONCALL)
    stack = Stack(
        StackConfig(
            data_dir=data_dir, log_level="DEBUG", extra_env={"CONFIG_FILE": str(config_file)}
        )
    )
    beat_log = stack.logs_dir / "beat.log"
    beat: subprocess.Popen[bytes] | None = None
    with stack:
        stack.wait_for_workers()
        # Beat exactly as the Procfile starts it (not through our CLI), at DEBUG.
        argv = shlex.split(procfile_command("beat"))
        argv[argv.index("--loglevel") + 1] = "DEBUG"
        argv[argv.index("--schedule") + 1] = str(tmp_path / "beat-schedule")
        with beat_log.open("ab") as out:
            beat = subprocess.Popen(
                argv,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**stack.env(), "PATH": f"{VENV_BIN}:{os.environ['PATH']}"},
            )
        try:
            _page_and_reply(stack)
            _send_tasks_naming_the_number(stack)
            worker_log = stack.logs_dir / "worker1.log"
            wait_for(
                lambda: (
                    "Received unregistered task" in worker_log.read_text()
                    and "unexpected keyword argument" in worker_log.read_text()
                ),
                timeout=60,
                what="the worker logging both tasks",
            )
            wait_for(
                lambda: "Sending due task tick" in beat_log.read_text(),
                timeout=30,
                what="beat sending a tick",
            )
        finally:
            beat.send_signal(signal.SIGTERM)
            beat.wait(timeout=30)

    logs = {path.name: path.read_text(errors="replace") for path in stack.logs_dir.glob("*.log")}
    assert {"worker1.log", "beat.log", "web.log", "simulator.log"} <= set(logs)
    for name, output in logs.items():
        assert full_numbers_in(output) == [], f"{name} holds a full number"
    worker = logs["worker1.log"]
    # Masked, not gone: the main process's line for the unknown task, and the
    # pool child's TypeError for the known one.
    body = worker[worker.index("Received unregistered task") :]
    assert MASKED in body[: body.index("The delivery info")]
    [raised] = [
        line
        for line in worker.splitlines()
        if "unexpected keyword argument" in line and "raised unexpected" in line
    ]
    assert "ForkPoolWorker" in raised and "********77" in raised, raised


# -- gunicorn --------------------------------------------------------------------------


def _signed_inbound_sms(base_url: str) -> requests.Response:
    url = f"{base_url}/plivo/sms/inbound"
    params = {
        "From": NUMBER.lstrip("+"),
        "To": "14155550000",
        "Text": "help",
        "Type": "sms",
        "MessageUUID": "6b0c5c7e-1f7a-4a8e-9a53-3d1b1c2e0f11",
    }
    headers = sign_request_headers(SIMULATOR_AUTH_TOKEN, url, params)
    return requests.post(url, data=params, headers=headers, timeout=10)


@pytest.mark.parametrize("logger_class", [False, True], ids=["procfile", "logger-class"])
def test_gunicorn_error_and_access_logs_at_debug_print_no_full_number(
    database_url, redis_url, redis_client, tmp_path, logger_class
):
    """`redis_client` empties the broker afterwards: no reply task is left for
    another test's worker."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    command = procfile_command("web") + " --access-logfile - --log-level debug"
    if logger_class:
        # The master's DEBUG dump of its settings names what -e passed.
        command += (
            " --logger-class shared.core.logging_setup.MaskingGunicornLogger"
            f" -e ONCALL_FALLBACK={NUMBER}"
        )
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(tmp_path),
        "LOG_LEVEL": "DEBUG",
        "API_TOKENS": "masking-test-token",
        "PLIVO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
        "PLIVO_BASE_URL": "http://127.0.0.1:9",
        "PUBLIC_BASE_URL": base_url,
        "PYTHONUNBUFFERED": "1",
    }
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("ab") as out:
        server = subprocess.Popen(
            ["sh", "-c", f"exec {command}"],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:

        def answering() -> bool:
            try:
                return requests.get(f"{base_url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                assert server.poll() is None, log_path.read_text()
                return False

        wait_for(answering, timeout=60, what="gunicorn answering")
        # An unsigned callback naming the number in its query and body: refused,
        # but its request line, query string included, is in the access log.
        refused = requests.post(
            f"{base_url}/plivo/sms/inbound?From=%2B14155550177&alt=%28415%29%20555-0177",
            data={"From": NUMBER, "Text": "1a"},
            timeout=10,
        )
        assert refused.status_code == 403
        assert _signed_inbound_sms(base_url).status_code == 200
        requests.get(f"{base_url}/healthz", params={"to": "+1 415 555 0177"}, timeout=10)
        wait_for(
            lambda: log_path.read_text().count('"GET /healthz?to=') >= 1,
            timeout=30,
            what="the access log lines",
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    output = log_path.read_text(errors="replace")
    assert full_numbers_in(output) == [], output
    [access] = [line for line in output.splitlines() if '"POST /plivo/sms/inbound?' in line]
    assert f"From={MASKED}" in access and '" 403 ' in access, access
    if logger_class:
        assert f"ONCALL_FALLBACK={MASKED}" in output
