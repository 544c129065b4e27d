"""A group that arrives together is paged together.

A real Alertmanager 0.25 group of three critical alerts for one person, posted
as Alertmanager posts it, reaches that person as one SMS naming all three,
as fast as a single alert would: nothing is held back for the bundle window,
so nobody learns of two of them only after they were resolved. With a
coalescing window, alerts posted in separate requests within it leave as one
message too. Real processes: the receiver, a worker pool and the Plivo simulator.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Notification
from tests.conftest import FIXTURES
from tests.polling import wait_for

PERSON = "+14155550171"
OTHER = "+14155550172"
AM_TOKEN = "am-group-token-0123456789"
CONFIG = f"""
contacts:
  ana: {{phone: "{PERSON}", channels: [sms]}}
  bo: {{phone: "{OTHER}", channels: [sms]}}
policies:
  db:
    steps:
      - {{targets: [ana], channels: [sms], wait: 10m}}
  other:
    steps:
      - {{targets: [bo], channels: [sms], wait: 10m}}
routes:
  - {{match: {{labels: {{service: db-cluster-1}}}}, policy: db}}
default_policy: other
"""


def group_of_three() -> dict:
    """The reference firing group with a third member, as Alertmanager would add it."""
    body = json.loads((FIXTURES / "alertmanager" / "webhook-firing.json").read_text())
    third = copy.deepcopy(body["alerts"][1])
    third["labels"]["instance"] = "db3:5432"
    third["annotations"] = {"summary": "Second replica unreachable"}
    third["fingerprint"] = "9c0e4d7a1b2f3e45"
    body["alerts"].append(third)
    return body


def running_stack(data_dir: Path, redis_url: str | None, **env: str) -> Stack:
    (data_dir / "oncall.yaml").write_text(CONFIG)
    config = StackConfig(
        data_dir=data_dir,
        redis_url=redis_url,
        worker_concurrency=3,
        extra_env={
            "CONFIG_FILE": str(data_dir / "oncall.yaml"),
            "INTEGRATION_TOKENS": f"alertmanager={AM_TOKEN}",
            **env,
        },
    )
    return Stack(config)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Its own Redis: a bundle window another module's stack left open for the same
    # number (60 s by default) would hold this group's page.
    with running_stack(tmp_path_factory.mktemp("group-paging"), None) as running:
        running.wait_for_workers()
        yield running


@pytest.fixture(scope="module")
def coalescing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Its own Redis: bundle windows and broker queues are not shared with `stack`.
    data_dir = tmp_path_factory.mktemp("coalescing")
    with running_stack(data_dir, None, COALESCE_WINDOW_S="2") as running:
        running.wait_for_workers()
        yield running


def texts_to(stack: Stack, number: str) -> list[str]:
    messages = requests.get(f"{stack.simulator_url}/_sim/messages", timeout=10).json()
    return [m["text"] for m in messages if m["dst"].lstrip("+") == number.lstrip("+")]


def pages_left(stack: Stack, number: str) -> list[str]:
    with session_scope(stack.database_url) as session:
        return list(
            session.scalars(
                select(Notification.state).where(
                    Notification.destination == number,
                    Notification.state.in_(("pending", "sending")),
                )
            )
        )


def test_a_group_of_three_reaches_its_person_as_one_sms_naming_all_three(stack: Stack) -> None:
    response = requests.post(
        f"{stack.web_url}/api/v1/integrations/alertmanager",
        json=group_of_three(),
        headers={"Authorization": f"Bearer {AM_TOKEN}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    # All three leave now, not one now and two when the 60 s bundle window ends.
    text = wait_for(lambda: texts_to(stack, PERSON), timeout=20, what="the page")[0]
    wait_for(lambda: not pages_left(stack, PERSON), timeout=10, what="nothing held back")
    assert texts_to(stack, PERSON) == [text]
    assert text.startswith("3 alerts firing: ")
    for summary in (
        "Primary database unreachable",
        "Replica database unreachable",
        "Second replica unreachable",
    ):
        assert summary in text
    assert re.search(r"Reply \d+A to acknowledge all", text)


def post_alert(stack: Stack, summary: str) -> None:
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts",
        json={
            "summary": summary,
            "severity": "critical",
            "source": "db",
            "labels": {"service": "db-cluster-1"},
        },
        headers={"Authorization": f"Bearer {stack.config.api_token}"},
        timeout=10,
    )
    assert response.status_code == 202, response.text


def test_a_single_alert_after_the_group_waits_for_the_bundle_window(stack: Stack) -> None:
    """Only alerts that arrived together ride together: one posted on its own later
    follows the ordinary bundle window (at most one more message in its minute)."""
    before = len(texts_to(stack, PERSON))
    post_alert(stack, "replication lag")
    wait_for(lambda: pages_left(stack, PERSON), timeout=10, what="the page planned and held")
    assert len(texts_to(stack, PERSON)) == before


def test_separate_requests_within_the_coalescing_window_leave_as_one_message(
    coalescing: Stack,
) -> None:
    posted = time.monotonic()
    for summary in ("disk full on db1", "disk full on db2", "disk full on db3"):
        post_alert(coalescing, summary)
        time.sleep(0.3)
    text = wait_for(lambda: texts_to(coalescing, PERSON), timeout=20, what="the page")[0]
    waited = time.monotonic() - posted
    wait_for(lambda: not pages_left(coalescing, PERSON), timeout=10, what="nothing held back")
    assert texts_to(coalescing, PERSON) == [text]
    assert text.startswith("3 alerts firing: ")
    assert all(f"disk full on db{i}" in text for i in (1, 2, 3))
    assert waited >= 1.5  # the first page gathered for its window before leaving
