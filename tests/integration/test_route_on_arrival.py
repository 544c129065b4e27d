"""The receiver routes a new alert itself while idle; the workers' backup never pages twice."""

from __future__ import annotations

import re
import time

from bench.load import accepted_by_number
from cli.stack import Stack, StackConfig
from tests.polling import wait_for
from tests.stack_alerts import post_alert

NUMBER = "+14155550181"
# Celery's line for the routing task published as the backup, finding the alert routed.
BACKUP_FOUND_ROUTED = re.compile(
    r"Task ingest\.dispatch_alert\[[^\]]+\] succeeded in [^:]+: 'already'"
)


def _backup_ran(stack: Stack) -> bool:
    return bool(BACKUP_FOUND_ROUTED.search((stack.logs_dir / "worker1.log").read_text()))


def test_with_no_worker_running_the_receiver_pages_and_the_backup_finds_it_routed(tmp_path):
    with Stack(StackConfig(data_dir=tmp_path, workers=0)) as stack:
        post_alert(stack, NUMBER)
        wait_for(
            lambda: accepted_by_number(stack.simulator_url).get(NUMBER),
            timeout=15,
            what="the page at Plivo with no worker running",
        )
        stack.start_worker()
        stack.wait_for_workers()
        wait_for(lambda: _backup_ran(stack), timeout=30, what="the backup routing task")
        time.sleep(1.0)  # anything it wrongly sent would reach Plivo in milliseconds
        assert len(accepted_by_number(stack.simulator_url)[NUMBER]) == 1


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
