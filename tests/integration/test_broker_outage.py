"""Redis (the broker) lost mid-run: alerts accepted meanwhile are paged once it is back."""

from __future__ import annotations

from collections import Counter

import requests

from cli.stack import Stack, StackConfig
from shared.core.db import read_scope
from shared.core.models import Alert
from tests.polling import wait_for


def routed(stack: Stack, alert_id: int) -> bool:
    with read_scope(stack.database_url) as session:
        return session.get(Alert, alert_id).dispatched_at is not None


def test_alerts_accepted_while_redis_is_down_are_all_paged_once_after(tmp_path):
    config = StackConfig(
        data_dir=tmp_path,
        with_beat=True,
        extra_env={"BUNDLE_WINDOW_S": "0", "REQUEUE_LOST_AFTER_S": "10"},
    )
    with Stack(config) as stack:
        stack.wait_for_workers()
        headers = {"Authorization": f"Bearer {stack.config.api_token}"}

        def post(number: str) -> dict:
            response = requests.post(
                f"{stack.web_url}/api/v1/alerts",
                json={"summary": "broker test", "severity": "critical", "recipients": [number]},
                headers=headers,
                timeout=30,
            )
            assert response.status_code == 202, response.text
            return response.json()

        before = [f"+1415555{n:04d}" for n in range(500, 505)]
        during = [f"+1415555{n:04d}" for n in range(505, 515)]
        for number in before:
            post(number)
        stack.stop_redis()  # everything queued in the broker is gone with it
        answers = [post(number) for number in during]
        # Stored, and not handed to the broker: each answer says so, unless the receiver
        # routed the alert itself in the transaction that stored it (worker.route_on_arrival):
        # that needs no broker, and its page waits in the database like any other.
        assert all(a["queued"] is False or routed(stack, a["id"]) for a in answers), answers
        stack.start_redis()

        numbers = before + during

        def received() -> Counter:
            messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=10).json()
            return Counter("+" + m["dst"].lstrip("+") for m in messages)

        wait_for(
            lambda: set(numbers) <= set(received()),
            timeout=90,
            interval=0.5,
            what="every alert paged after Redis came back",
        )
        counts = received()
        assert [counts[n] for n in numbers] == [1] * len(numbers)
