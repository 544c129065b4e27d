"""Replies to maintenance notices, on the real system: receiver, worker, beat, simulator.

STOP sent back to a notice opts the number out of notices only: it is left
out of the next notice, while a page to the same person still goes out. A
STOP after a page is still the on-call opt-out it always was. START opts back
in. HELP to a notice gets the notices' own instructions, capped per number
like every answer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from cli.stack import Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import NoticeDelivery, NoticeOptOut, OptOut
from shared.replies.notice_scope import NOTICE_HELP_TEXT
from tests.polling import wait_for

OPS = "+16285550101"  # on the rota: paged, and told about maintenance
SUB = "+16285550201"  # a subscriber
OTHER = "+16285550202"  # another subscriber
OUR_NUMBER = "+14155550000"  # the stack's sender (PLIVO_FROM)


def oncall(notices: dict[str, datetime]) -> str:
    blocks = "".join(
        f"""
  {name}:
    title: {name.capitalize()} maintenance
    window: {{start: "{due:%Y-%m-%d %H:%M:%S}", duration: 1h, time_zone: UTC}}
    reminders: [start]
    audience: {{contacts: [ops], lists: [customers]}}
    templates: {{sms: "{{title}} starts {{start}}."}}"""
        for name, due in notices.items()
    )
    return f"""
contacts:
  ops: {{phone: "{OPS}", channels: [sms]}}
policies:
  p:
    steps: [{{targets: [ops], channels: [sms], wait: 10m}}]
default_policy: p
subscriber_lists:
  customers: {{numbers: ["{SUB}", "{OTHER}"]}}
notices:{blocks or " {}"}
"""


class System:
    def __init__(self, stack: Stack, config: Path) -> None:
        self.stack, self.config = stack, config

    def texts_to(self, number: str, containing: str = "") -> list[str]:
        seen = requests.get(f"{self.stack.simulator_url}/_sim/requests", timeout=5).json()
        return [
            str(r["body"]["text"])
            for r in seen
            if r["method"] == "POST"
            and r["path"].endswith("/Message/")
            and r["status"] == 202
            and number.lstrip("+") in str(r["body"]["dst"]).split("<")
            and containing in str(r["body"]["text"])
        ]

    def reply(self, number: str, text: str) -> None:
        answer = requests.post(
            f"{self.stack.simulator_url}/_sim/inbound_sms",
            json={"from": number, "to": OUR_NUMBER, "text": text, "path": "/plivo/sms/inbound"},
            timeout=10,
        ).json()
        assert answer["status"] == 200, answer

    def rows(self, model: type[NoticeOptOut] | type[OptOut]) -> set[str]:
        with session_scope(self.stack.database_url) as session:
            return set(session.scalars(select(model.destination)))


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    data_dir: Path = tmp_path_factory.mktemp("notice-replies")
    config = data_dir / "oncall.yaml"
    config.write_text(oncall({}))
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
        yield System(stack, config)


def test_stop_to_a_notice_stops_notices_only_and_start_undoes_it(system: System) -> None:
    first = datetime.now(UTC).replace(microsecond=0)
    system.config.write_text(oncall({"first": first}))
    for number in (OPS, SUB, OTHER):
        wait_for(lambda n=number: system.texts_to(n, "First"), timeout=20, what="first notice")

    # STOP in answer to the notice: out of notices, not of pages.
    system.reply(OPS, "STOP")
    system.reply(SUB, "stop")
    assert wait_for(lambda: system.rows(NoticeOptOut) == {OPS, SUB}, what="notice opt-outs")
    assert system.rows(OptOut) == set()

    # A page to the same person still leaves.
    headers = {"Authorization": f"Bearer {system.stack.config.api_token}"}
    body = {"summary": "db1 down", "severity": "critical", "recipients": [OPS]}
    posted = requests.post(
        f"{system.stack.web_url}/api/v1/alerts", json=body, headers=headers, timeout=10
    )
    assert posted.status_code == 202
    wait_for(lambda: system.texts_to(OPS, "db1 down"), timeout=15, what="the page")

    # The next notice leaves out both opted-out numbers, and reaches the rest.
    system.config.write_text(oncall({"first": first, "second": datetime.now(UTC)}))
    wait_for(lambda: system.texts_to(OTHER, "Second"), timeout=20, what="second notice")
    with session_scope(system.stack.database_url) as session:
        skipped = dict(
            session.execute(
                select(NoticeDelivery.number, NoticeDelivery.skip_reason).where(
                    NoticeDelivery.send_id.like("second/%")
                )
            ).all()
        )
    assert skipped == {OPS: "opted_out", SUB: "opted_out", OTHER: None}
    assert system.texts_to(OPS, "Second") == system.texts_to(SUB, "Second") == []

    # After a page, STOP is the on-call opt-out it always was; START undoes either.
    system.reply(OPS, "STOP")
    assert wait_for(lambda: system.rows(OptOut) == {OPS}, what="the on-call opt-out")
    system.reply(SUB, "START")
    assert wait_for(lambda: system.rows(NoticeOptOut) == {OPS}, what="opted back in")


def test_help_to_a_notice_gets_the_notice_instructions_within_the_reply_cap(
    system: System,
) -> None:
    if not system.texts_to(OTHER, "First"):
        system.config.write_text(oncall({"first": datetime.now(UTC) - timedelta(seconds=1)}))
        wait_for(lambda: system.texts_to(OTHER, "First"), timeout=20, what="first notice")
    for _ in range(4):
        system.reply(OTHER, "HELP")
    answers = wait_for(
        lambda: len(found := system.texts_to(OTHER, NOTICE_HELP_TEXT)) >= 3 and found,
        timeout=15,
        what="the answers",
    )
    time.sleep(1.0)  # a fourth would have been queued with the third
    assert len(system.texts_to(OTHER, NOTICE_HELP_TEXT)) == len(answers) == 3
    assert system.texts_to(OTHER, "acknowledge") == []  # not the on-call instructions
