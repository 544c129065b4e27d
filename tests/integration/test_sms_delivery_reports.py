"""A Plivo delivery report moves its text in the receiver, once, and asks a worker only
for what must follow a text that reached nobody.

The receiver runs over real HTTP on a real database and the real broker, with no
worker consuming: whatever the report changed is done by the time it answers,
and whatever it handed over is still in the broker to be read.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from sqlalchemy import select

from cli.stack import SIMULATOR_AUTH_TOKEN, free_port
from shared.core.db import session_scope
from shared.core.models import Alert, Notification
from shared.core.settings import load_settings
from shared.notifications.store import record_sms_report
from tests.conftest import ServedApp
from tests.integration.test_ingest_outages import dead_broker  # noqa: F401 (a fixture)
from tests.integration.test_security_callbacks import (
    OUR_NUMBER,
    PERSON,
    moves,
    page,
    signed_post,
)
from webhooks.app import create_app

NOTIFICATION_ENDED = "escalation.notification_ended"


def report(message_uuid, status, **extra):
    return {
        "MessageUUID": message_uuid,
        "Status": status,
        "To": PERSON.lstrip("+"),
        "From": OUR_NUMBER,
        "Units": "1",
        **extra,
    }


def post_report(receiver, notification_id, params):
    response, _ = signed_post(receiver, f"/plivo/sms/status?n={notification_id}", params)
    return response.status_code, response.text


def published(redis_client):
    """(task name, args) of every task waiting in the broker, in no particular order."""
    found = []
    for key in redis_client.scan_iter("*"):
        if redis_client.type(key) != "list":
            continue
        for raw in redis_client.lrange(key, 0, -1):
            message = json.loads(raw)
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append((message["headers"]["task"], args))
    return found


def ended(redis_client):
    return sorted(args[0] for task, args in published(redis_client) if task == NOTIFICATION_ENDED)


def sms_member(url, lead_id, provider_state="sent"):
    """A second open alert whose text rides on message `lead_id`: its notification id."""
    with session_scope(url) as session:
        alert = Alert(summary="db down", severity="critical", source="test", status="triggered")
        session.add(alert)
        session.flush()
        member = Notification(
            alert_id=alert.id,
            channel="sms",
            destination=PERSON,
            state=provider_state,
            text="db down",
            send_attempts=1,
            bundle_lead_id=lead_id,
        )
        session.add(member)
        session.flush()
        return member.id


def retries_of(url, notification_id):
    """(attempt, state) of the re-sends planned for the text `notification_id`."""
    with session_scope(url) as session:
        failed = session.get(Notification, notification_id)
        rows = session.execute(
            select(Notification.attempt, Notification.state).where(
                Notification.alert_id == failed.alert_id,
                Notification.destination == failed.destination,
                Notification.id != notification_id,
            )
        ).all()
        return [tuple(row) for row in rows]


def test_reports_up_to_delivered_move_the_text_and_publish_nothing(
    receiver, redis_client, database_url
):
    _alert, nid, _ = page(database_url, state="queued", provider_uuid="msg-d")

    assert post_report(receiver, nid, report("msg-d", "sent")) == (200, "ok\n")
    assert post_report(receiver, nid, report("msg-d", "delivered")) == (200, "ok\n")

    # Moved by the time the receiver answered: no worker ran, nothing was handed over.
    assert moves(database_url, nid) == (
        "delivered",
        None,
        None,
        ["plivo status sent", "plivo status delivered"],
    )
    assert published(redis_client) == []


def test_an_undelivered_report_moves_every_chain_of_the_bundle_on(
    receiver, redis_client, database_url
):
    _alert, lead, _ = page(database_url, state="sent", provider_uuid="msg-u")
    member = sms_member(database_url, lead)

    params = report("msg-u", "undelivered", ErrorCode="30")
    assert post_report(receiver, lead, params) == (200, "ok\n")

    assert moves(database_url, lead) == ("undelivered", "30", None, ["plivo status undelivered"])
    assert moves(database_url, member)[:2] == ("undelivered", "30")
    assert ended(redis_client) == sorted([lead, member])
    assert [task for task, _ in published(redis_client)] == [NOTIFICATION_ENDED] * 2


def test_a_temporary_carrier_error_plans_a_resend_instead(receiver, redis_client, database_url):
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-t")

    assert post_report(receiver, nid, report("msg-t", "failed", ErrorCode="80")) == (200, "ok\n")

    assert moves(database_url, nid)[:2] == ("failed", "80")
    assert retries_of(database_url, nid) == [(1, "pending")]  # the tick sends it when due
    assert published(redis_client) == []


def test_the_same_report_twice_is_applied_once(receiver, redis_client, database_url):
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-2")
    params = report("msg-2", "undelivered", ErrorCode="30")

    assert post_report(receiver, nid, params) == (200, "ok\n")
    # Plivo posting it again, freshly signed (a new nonce): accepted, but nothing more happens.
    assert post_report(receiver, nid, params) == (200, "duplicate\n")

    assert moves(database_url, nid) == ("undelivered", "30", None, ["plivo status undelivered"])
    assert ended(redis_client) == [nid]


@pytest.mark.usefixtures("dead_broker")
def test_a_lost_follow_up_is_logged_with_its_notification(
    database_url, broker_env, tmp_path, caplog
):
    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,  # replay checks work; only the broker is down
        DATA_DIR=str(tmp_path),
        API_TOKENS="t",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PLIVO_AUTH_TOKEN=SIMULATOR_AUTH_TOKEN,
    )
    from worker import enqueue

    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-l")
    try:
        with caplog.at_level(logging.ERROR):
            answer = post_report(served, nid, report("msg-l", "failed", ErrorCode="30"))
    finally:
        served.stop()

    assert answer == (200, "ok\n")
    assert moves(database_url, nid)[:2] == ("failed", "30")
    lost = [r for r in caplog.records if r.levelno == logging.ERROR and r.args == (nid,)]
    assert len(lost) == 1
    assert "follow-up could not be enqueued" in lost[0].getMessage()


def test_a_report_handed_over_before_the_upgrade_is_still_applied_once(
    database_url, broker_env, redis_client, monkeypatch, tmp_path
):
    """A broker may still hold `callbacks.apply_delivery_report` messages from before
    reports were applied in the receiver: the task applies them, once."""
    from worker import context
    from worker.tasks.apply_delivery_report import apply_delivery_report

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    context.settings.cache_clear()
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-o")
    with session_scope(database_url) as session:
        notification = session.get(Notification, nid)
        event_id = record_sms_report(session, notification, report("msg-o", "undelivered"))
    try:
        assert apply_delivery_report(event_id) == "applied"
        assert apply_delivery_report(event_id) == "stale"
    finally:
        context.settings.cache_clear()

    assert moves(database_url, nid)[:2] == ("undelivered", None)
    assert ended(redis_client) == [nid]
