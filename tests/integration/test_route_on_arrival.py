"""The receiver routes a new alert itself while idle and hands the workers nothing; turned
off, the alert waits for a worker's routing task."""

from __future__ import annotations

import re
import time

import requests

from bench.load import accepted_by_number
from cli.stack import Stack, StackConfig
from tests.polling import wait_for
from tests.stack_alerts import post_alert

NUMBER = "+14155550181"


def _routing_tasks_run(stack: Stack) -> list[str]:
    """Celery's lines for routing tasks the worker received."""
    log = (stack.logs_dir / "worker1.log").read_text()
    return re.findall(r"Task ingest\.dispatch_alerts?\[[^\]]+\] received", log)


def test_with_no_worker_running_the_receiver_pages_and_hands_the_workers_nothing(tmp_path):
    """Routed here and its page gone before the answer: the database drives the rest, and
    no routing task (no backup) is published."""
    with Stack(StackConfig(data_dir=tmp_path, workers=0)) as stack:
        response = requests.post(
            f"{stack.web_url}/api/v1/alerts",
            json={"summary": "disk full", "severity": "critical", "recipients": [NUMBER]},
            headers={"Authorization": f"Bearer {stack.config.api_token}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        assert response.json()["queued"] is True  # in hand: routed by the receiver
        wait_for(
            lambda: accepted_by_number(stack.simulator_url).get(NUMBER),
            timeout=15,
            what="the page at Plivo with no worker running",
        )
        stack.start_worker()
        stack.wait_for_workers()
        # The tick runs every second: a routing task handed over would have run by now.
        time.sleep(4.0)
        assert _routing_tasks_run(stack) == []
        assert len(accepted_by_number(stack.simulator_url)[NUMBER]) == 1
        _assert_logged_after_the_page(stack)


def _assert_logged_after_the_page(stack: Stack) -> None:
    """The alert's and its step's lines are still written, once each, and the step's comes
    after the page's answer: the first page waited for neither."""
    lines = (stack.logs_dir / "web.log").read_text().splitlines()

    def where(pattern: str) -> list[int]:
        return [index for index, line in enumerate(lines) if re.search(pattern, line)]

    assert len(where(r"alert event via api from .*: created \(alert 1\)")) == 1
    [step] = where(r"alert 1: step 0 \(round 0\) of .* fired, 1 notifications")
    [answered] = where(r"sms for notification \d+ to .*: accepted")
    assert answered < step


def test_with_route_on_arrival_off_the_alert_waits_for_a_worker(tmp_path):
    config = StackConfig(data_dir=tmp_path, workers=0, extra_env={"ROUTE_ON_ARRIVAL": "false"})
    with Stack(config) as stack:
        post_alert(stack, NUMBER)
        time.sleep(3.0)  # routed on arrival, it reached Plivo within 0.1 s
        assert NUMBER not in accepted_by_number(stack.simulator_url)
        stack.start_worker()
        wait_for(
            lambda: accepted_by_number(stack.simulator_url).get(NUMBER),
            timeout=30,
            what="the page once a worker runs",
        )
        assert len(accepted_by_number(stack.simulator_url)[NUMBER]) == 1
        assert len(_routing_tasks_run(stack)) == 1  # the line the test above finds none of
