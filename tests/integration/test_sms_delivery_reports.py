"""A Plivo delivery report is answered once it waits in the report inbox; a worker applies
the inbox in batches, each report once, and asks for more only for a text that reached nobody.

The receiver runs over real HTTP on a real database and the real broker, with no
worker consuming: the worker's task is run in this process (`drain`), and whatever
it handed over is still in the broker to be read.
"""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
from sqlalchemy import Engine, event, select

from cli.stack import SIMULATOR_AUTH_TOKEN, free_port
from shared.core.db import session_scope
from shared.core.models import Alert, Notification
from shared.core.settings import load_settings
from shared.notifications import report_inbox
from shared.notifications.delivery_reports import record_sms_reports
from tests.broker_messages import queued_anywhere
from tests.conftest import ServedApp
from tests.integration.test_dead_claimer import settle
from tests.integration.test_ingest_outages import dead_broker  # noqa: F401 (a fixture)
from tests.integration.test_security_callbacks import (
    OUR_NUMBER,
    PERSON,
    events_of_kind,
    moves,
    page,
    replay,
    signed_post,
)
from tests.sql_events import listening
from webhooks.app import create_app
from worker.sending import liveness

NOTIFICATION_ENDED = "escalation.notification_ended"
APPLY_DELIVERY_REPORTS = "callbacks.apply_delivery_reports"


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
    return [(queued.task, queued.args) for queued in queued_anywhere(redis_client)]


def ended(redis_client):
    return sorted(args[0] for task, args in published(redis_client) if task == NOTIFICATION_ENDED)


def drains_started(redis_client):
    return [task for task, _ in published(redis_client)].count(APPLY_DELIVERY_REPORTS)


def inbox(redis_client):
    return redis_client.lrange(report_inbox.INBOX_KEY, 0, -1)


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


def test_reports_up_to_delivered_move_the_text_and_hand_over_nothing(
    receiver, redis_client, database_url, drain
):
    _alert, nid, _ = page(database_url, state="queued", provider_uuid="msg-d")

    assert post_report(receiver, nid, report("msg-d", "sent")) == (200, "ok\n")
    assert post_report(receiver, nid, report("msg-d", "delivered")) == (200, "ok\n")
    # Answered once in the inbox: the text has not moved yet, one drainer was asked for.
    assert moves(database_url, nid)[0] == "queued"
    assert len(inbox(redis_client)) == 2
    assert published(redis_client) == [(APPLY_DELIVERY_REPORTS, [])]

    assert drain() == 2

    assert moves(database_url, nid) == (
        "delivered",
        None,
        None,
        ["plivo status sent", "plivo status delivered"],
    )
    assert inbox(redis_client) == []
    assert ended(redis_client) == []


def test_an_undelivered_report_moves_every_chain_of_the_bundle_on(
    receiver, redis_client, database_url, drain
):
    _alert, lead, _ = page(database_url, state="sent", provider_uuid="msg-u")
    member = sms_member(database_url, lead)

    params = report("msg-u", "undelivered", ErrorCode="30")
    assert post_report(receiver, lead, params) == (200, "ok\n")
    drain()

    assert moves(database_url, lead) == ("undelivered", "30", None, ["plivo status undelivered"])
    assert moves(database_url, member)[:2] == ("undelivered", "30")
    assert ended(redis_client) == sorted([lead, member])
    assert [task for task, _ in published(redis_client) if task != APPLY_DELIVERY_REPORTS] == [
        NOTIFICATION_ENDED
    ] * 2


def test_a_temporary_carrier_error_plans_a_resend_instead(
    receiver, redis_client, database_url, drain
):
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-t")

    assert post_report(receiver, nid, report("msg-t", "failed", ErrorCode="80")) == (200, "ok\n")
    drain()

    assert moves(database_url, nid)[:2] == ("failed", "80")
    assert retries_of(database_url, nid) == [(1, "pending")]  # handed over when due
    assert ended(redis_client) == []


def test_the_same_report_twice_is_applied_once(receiver, redis_client, database_url, drain):
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-2")
    params = report("msg-2", "undelivered", ErrorCode="30")

    assert post_report(receiver, nid, params) == (200, "ok\n")
    drain()
    # Plivo posting it again, freshly signed (a new nonce): accepted, but nothing more happens.
    assert post_report(receiver, nid, params) == (200, "ok\n")
    drain()

    assert moves(database_url, nid) == ("undelivered", "30", None, ["plivo status undelivered"])
    assert events_of_kind(database_url, "callback.sms_status") == 1
    assert ended(redis_client) == [nid]


def test_reports_for_50_texts_are_applied_in_one_transaction_in_order(
    receiver, redis_client, database_url, drain
):
    texts = [page(database_url, state="sending", provider_uuid=f"msg-{k}")[1] for k in range(50)]
    # Plivo's order for each text, the texts interleaved as their reports arrive.
    for status in ("queued", "sent", "delivered"):
        for k, nid in enumerate(texts):
            assert post_report(receiver, nid, report(f"msg-{k}", status)) == (200, "ok\n")
    commits = []

    def committed(connection):
        commits.append(connection)

    # Every engine of this process: the drain's URL may be spelled differently.
    event.listen(Engine, "commit", committed)
    try:
        assert drain() == 150
    finally:
        event.remove(Engine, "commit", committed)

    assert len(commits) == 1  # one write transaction for 150 reports, not 150
    assert drains_started(redis_client) == 1  # only the push into an empty inbox asked for one
    for nid in texts:
        assert moves(database_url, nid) == (
            "delivered",
            None,
            None,
            ["plivo status queued", "plivo status sent", "plivo status delivered"],
        )
    assert events_of_kind(database_url, "callback.sms_status") == 150
    assert inbox(redis_client) == []


def test_reports_pushed_while_a_drainer_reads_start_no_other_and_join_its_next_batch(
    receiver, redis_client, database_url, drain, monkeypatch
):
    from worker.tasks import apply_delivery_reports as task

    texts = [page(database_url, state="sent", provider_uuid=f"msg-g{k}")[1] for k in range(4)]
    assert post_report(receiver, texts[0], report("msg-g0", "delivered")) == (200, "ok\n")
    assert drains_started(redis_client) == 1
    arriving = iter(enumerate(texts[1:], start=1))
    pauses = []
    real_sleep, drainer = time.sleep, threading.current_thread()

    def reports_arrive_during_the_pause(seconds):
        if threading.current_thread() is not drainer:
            # Time is one module for every thread: another thread of this process (a
            # liveness heartbeat left by an earlier test, say) sleeps as usual.
            return real_sleep(seconds)
        # Plivo's next reports come in while the drainer waits, holding the inbox.
        pauses.append(seconds)
        for k, nid in arriving:
            assert post_report(receiver, nid, report(f"msg-g{k}", "delivered")) == (200, "ok\n")

    monkeypatch.setattr(task.time, "sleep", reports_arrive_during_the_pause)
    assert drain() == 4  # the first report, then the three that came during its pause

    assert pauses == [task.GATHER_S, task.GATHER_S]
    assert drains_started(redis_client) == 1  # the three found the drainer: no start each
    assert [moves(database_url, nid)[0] for nid in texts] == ["delivered"] * 4
    assert inbox(redis_client) == []


def test_a_drainer_that_died_holding_the_inbox_is_replaced_at_the_next_hand_over(
    receiver, redis_client, database_url, drain
):
    """The lock names its drainer's liveness token: a dead holder's lock is freed at the
    next hand-over of sends (every second), not when it lapses 30 s later. A live
    holder, or one that named no token, keeps it."""
    from worker.tasks.hand_over_sends import hand_over_sends

    settle(redis_client)  # liveness keys kept a minute: an absent one means dead
    live, dead = "host-a:201:aaaaaaaa", "host-a:202:bbbbbbbb"
    redis_client.set(liveness.alive_key(live), "1", px=5000)
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-h")
    report_inbox.acquire(redis_client, live)
    assert post_report(receiver, nid, report("msg-h", "delivered")) == (200, "ok\n")
    assert drains_started(redis_client) == 0  # the holder reads it
    hand_over_sends()
    assert drains_started(redis_client) == 0  # alive: left alone

    redis_client.delete(report_inbox.LOCK_KEY)
    report_inbox.acquire(redis_client)  # a holder that named no token
    hand_over_sends()
    assert drains_started(redis_client) == 0  # may be alive: only its lapse frees it

    redis_client.delete(report_inbox.LOCK_KEY)
    report_inbox.acquire(redis_client, dead)  # died with its worker: its key lapsed
    hand_over_sends()
    assert drains_started(redis_client) == 1
    assert redis_client.get(report_inbox.LOCK_KEY) is None
    assert drain() == 1
    assert moves(database_url, nid)[0] == "delivered"


def test_plivos_repeated_reports_cost_a_batch_a_few_statements_and_move_nothing(
    receiver, redis_client, database_url, drain
):
    texts = [page(database_url, state="sent", provider_uuid=f"msg-r{k}")[1] for k in range(40)]
    for k, nid in enumerate(texts):
        post_report(receiver, nid, report(f"msg-r{k}", "delivered"))
    assert drain() == 40
    # Plivo posts every report again (each with a fresh nonce: not a replay).
    for k, nid in enumerate(texts):
        assert post_report(receiver, nid, report(f"msg-r{k}", "delivered")) == (200, "ok\n")
    statements = []

    def executed(_conn, _cursor, statement, *_args):
        if not statement.startswith(("PRAGMA", "BEGIN", "SET")):
            statements.append(statement.split()[0])

    with listening(Engine, "before_cursor_execute", executed):
        assert drain() == 40

    # One read of the 40 texts and one insert that refuses the 40 repeats, where
    # each report cost its own read and insert before.
    assert statements == ["SELECT", "INSERT"]
    assert events_of_kind(database_url, "callback.sms_status") == 40
    for nid in texts:
        assert moves(database_url, nid) == ("delivered", None, None, ["plivo status delivered"])


def test_a_report_naming_only_its_uuid_finds_the_text_an_earlier_report_taught_it(
    receiver, redis_client, database_url, drain
):
    # Our send never heard Plivo's answer: the text has no uuid yet.
    _alert, nid, _ = page(database_url, state="sending", provider_uuid=None)
    assert post_report(receiver, nid, report("msg-t", "sent")) == (200, "ok\n")
    # A callback URL from before texts were named in it: found by the uuid alone.
    response, _ = signed_post(receiver, "/plivo/sms/status", report("msg-t", "delivered"))
    assert response.status_code == 200

    assert drain() == 2  # one batch

    assert moves(database_url, nid)[0] == "delivered"
    assert events_of_kind(database_url, "callback.unknown_message") == 0


def test_a_drainer_killed_after_its_commit_applies_nothing_twice(
    receiver, redis_client, database_url, drain
):
    from worker.tasks.apply_delivery_reports import apply_reports, readable

    _a, first, _ = page(database_url, state="sent", provider_uuid="msg-k1")
    _b, second, _ = page(database_url, state="sent", provider_uuid="msg-k2")
    post_report(receiver, first, report("msg-k1", "delivered"))
    post_report(receiver, second, report("msg-k2", "undelivered", ErrorCode="30"))
    # The first half of a drain: applied and committed, then killed before the trim.
    apply_reports(database_url, readable(report_inbox.read_batch(redis_client)))
    assert len(inbox(redis_client)) == 2

    assert drain() == 2  # the next drainer finds them, applies them again: duplicates

    assert moves(database_url, first) == ("delivered", None, None, ["plivo status delivered"])
    assert moves(database_url, second) == ("undelivered", "30", None, ["plivo status undelivered"])
    assert events_of_kind(database_url, "callback.sms_status") == 2
    assert inbox(redis_client) == []


def test_a_malformed_entry_is_dropped_without_blocking_the_others(
    receiver, redis_client, database_url, drain, caplog
):
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-m")
    report_inbox.push(redis_client, '{"params": "not fields"}')
    post_report(receiver, nid, report("msg-m", "delivered"))

    with caplog.at_level(logging.ERROR):
        assert drain() == 2

    assert moves(database_url, nid)[0] == "delivered"
    assert inbox(redis_client) == []
    [dropped] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "malformed entry at position 0 of the report inbox" in dropped.getMessage()


def test_a_delivery_report_cannot_move_a_call(receiver, redis_client, database_url, drain):
    _alert, call, _ = page(database_url, channel="voice", state="sent", provider_uuid="req-call")
    params = {"MessageUUID": "", "Status": "failed", "ErrorCode": "70"}
    assert post_report(receiver, call, params) == (200, "ok\n")
    drain()

    assert moves(database_url, call) == ("sent", None, None, [])
    assert events_of_kind(database_url, "callback.unknown_message") == 1
    assert events_of_kind(database_url, "callback.sms_status") == 0


def test_the_inbox_keeps_no_phone_number(receiver, redis_client, database_url):
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-p")
    post_report(receiver, nid, report("msg-p", "delivered"))

    [entry] = inbox(redis_client)
    assert json.loads(entry)["notification_id"] == nid
    assert json.loads(entry)["params"]["MessageUUID"] == "msg-p"
    assert PERSON.lstrip("+") not in entry and OUR_NUMBER not in entry


def test_a_replayed_report_is_refused_and_never_reaches_the_inbox(
    receiver, redis_client, database_url
):
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-r")
    first, sent = signed_post(receiver, f"/plivo/sms/status?n={nid}", report("msg-r", "delivered"))
    assert first.status_code == 200

    assert replay(sent).status_code == 403
    assert len(inbox(redis_client)) == 1


def test_a_report_redis_will_not_take_is_503_and_plivos_retry_is_taken(
    receiver, redis_client, database_url, drain
):
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-x")
    redis_client.set(report_inbox.INBOX_KEY, "not a list")  # every RPUSH now refused
    refused, sent = signed_post(
        receiver, f"/plivo/sms/status?n={nid}", report("msg-x", "delivered")
    )
    assert (refused.status_code, refused.text) == (503, "try again later\n")

    redis_client.delete(report_inbox.INBOX_KEY)
    # The same request again (its nonce given back): taken, and applied.
    retried = replay(sent)
    assert (retried.status_code, retried.text) == (200, "ok\n")
    drain()
    assert moves(database_url, nid)[0] == "delivered"


def test_the_hand_over_of_sends_starts_a_drainer_for_reports_left_waiting(
    receiver, redis_client, database_url, drain
):
    from worker.tasks.hand_over_sends import hand_over_sends

    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-w")
    post_report(receiver, nid, report("msg-w", "delivered"))
    redis_client.flushdb()  # the start the receiver published is lost, with the nonce
    report_inbox.push(redis_client, inbox_entry_for(nid, report("msg-w", "delivered")))
    assert drains_started(redis_client) == 0

    hand_over_sends()
    assert drains_started(redis_client) == 1
    drain()
    hand_over_sends()

    assert moves(database_url, nid)[0] == "delivered"
    assert drains_started(redis_client) == 1  # an empty inbox asks for nothing


def inbox_entry_for(nid, params):
    from shared.core.models import utcnow
    from shared.notifications.delivery_reports import inbox_entry

    return inbox_entry(params, nid, utcnow())


@pytest.mark.usefixtures("dead_broker")
def test_a_lost_follow_up_is_logged_with_its_notification(
    database_url, broker_env, tmp_path, caplog, drain
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
        answer = post_report(served, nid, report("msg-l", "failed", ErrorCode="30"))
    finally:
        served.stop()
    with caplog.at_level(logging.ERROR):
        drain()  # the receiver's start was lost with the broker; the hand-over would start it

    assert answer == (200, "ok\n")
    assert moves(database_url, nid)[:2] == ("failed", "30")
    lost = [r for r in caplog.records if r.levelno == logging.ERROR and r.args == (nid,)]
    assert len(lost) == 1
    assert "follow-up could not be enqueued" in lost[0].getMessage()


def test_a_report_handed_over_before_the_upgrade_is_still_applied_once(
    database_url, broker_env, redis_client, monkeypatch, tmp_path
):
    """A broker may still hold `callbacks.apply_delivery_report` messages from before
    reports were applied from the inbox: the task applies them, once."""
    from worker import context
    from worker.tasks.apply_delivery_report import apply_delivery_report

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    context.settings.cache_clear()
    _alert, nid, _ = page(database_url, state="sent", provider_uuid="msg-o")
    with session_scope(database_url) as session:
        notification = session.get(Notification, nid)
        [event_id] = record_sms_reports(session, [(notification, report("msg-o", "undelivered"))])
    try:
        assert apply_delivery_report(event_id) == "applied"
        assert apply_delivery_report(event_id) == "stale"
    finally:
        context.settings.cache_clear()

    assert moves(database_url, nid)[:2] == ("undelivered", None)
    assert ended(redis_client) == [nid]
