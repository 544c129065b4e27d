"""The next person is paged on time while a storm's alerts wait to be routed.

Escalation steps are handed over and fired on the notify queue at the first
priority (worker.tasks.hand_over_steps). Handed over by the tick, on the
ingest queue behind the routings, the second person of a chain was not paged
until the backlog drained: with 1,500 routings kept waiting, never within the
test's time. Real processes: receiver, worker, beat, simulator.
"""

from __future__ import annotations

import requests

from bench.load import accepted_by_number
from bench.oncall_files import two_step_chain
from bench.routing_backlog import RoutingBacklog
from cli.stack import Stack, StackConfig
from tests.polling import wait_for

ANN, BOB = "+14155550281", "+14155550282"
STEP_WAIT_S = 5  # long enough for the backlog to stand before the next step is due
CONFIG = two_step_chain(ANN, BOB, STEP_WAIT_S)


def test_the_next_step_fires_on_time_behind_a_routing_backlog(tmp_path, stack_broker):
    config_file = tmp_path / "oncall.yaml"
    config_file.write_text(CONFIG)
    config = StackConfig(
        data_dir=tmp_path,
        redis_url=stack_broker,
        with_beat=True,
        extra_env={"CONFIG_FILE": str(config_file), "BUNDLE_WINDOW_S": "0"},
    )
    with Stack(config) as stack:
        stack.wait_for_workers()
        response = requests.post(
            f"{stack.web_url}/api/v1/alerts",
            json={"summary": "checkout is down", "severity": "critical"},
            headers={"Authorization": f"Bearer {stack.config.api_token}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        wait_for(lambda: ANN in accepted_by_number(stack.simulator_url), timeout=20, interval=0.05)
        with RoutingBacklog(stack.redis_url) as backlog:
            wait_for(
                lambda: BOB in accepted_by_number(stack.simulator_url),
                timeout=STEP_WAIT_S + 30,
                interval=0.1,
            )
            assert backlog.waiting() > 0  # the routings were still queued when bob was paged
        times = accepted_by_number(stack.simulator_url)
    after_s = times[BOB][0] - times[ANN][0]
    # Due STEP_WAIT_S after ann's step fired; handed over within a second of that.
    assert STEP_WAIT_S - 0.5 <= after_s <= STEP_WAIT_S + 2.5, after_s
    assert len(times[ANN]) == 1 and len(times[BOB]) == 1
