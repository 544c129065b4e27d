"""One alert, end to end, through real processes: receiver, worker, simulator, Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests
from sqlalchemy import func, select

from cli.stack import SIMULATOR_AUTH_TOKEN, Stack, StackConfig
from shared.core.db import session_scope
from shared.core.models import Event, Notification
from shared.plivo.signature import sign_request_headers
from tests.polling import wait_for


@pytest.fixture(scope="module")
def stack(tmp_path_factory, stack_broker):
    with Stack(StackConfig(data_dir=tmp_path_factory.mktemp("stack"), redis_url=stack_broker)) as s:
        s.wait_for_workers()
        yield s


def auth(stack):
    return {"Authorization": f"Bearer {stack.config.api_token}"}


def post_alert(stack, number, **extra):
    body = {"summary": "disk full on db1", "severity": "critical", "recipients": [number]}
    body.update(extra)
    response = requests.post(
        f"{stack.web_url}/api/v1/alerts", json=body, headers=auth(stack), timeout=10
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def view(stack, alert_id):
    return requests.get(
        f"{stack.web_url}/api/v1/alerts/{alert_id}", headers=auth(stack), timeout=5
    ).json()


def final_notification(stack, alert_id):
    def done():
        notifications = view(stack, alert_id)["notifications"]
        if notifications and notifications[0]["state"] in ("delivered", "undelivered", "failed"):
            return notifications[0]
        return None

    return wait_for(done)


def sent_messages_to(stack, number):
    requests_seen = requests.get(f"{stack.simulator_url}/_sim/requests", timeout=5).json()
    digits = number.lstrip("+")
    return [
        r
        for r in requests_seen
        if r["method"] == "POST"
        and r["path"].endswith("/Message/")
        and digits in str((r.get("body") or {}).get("dst", ""))
    ]


def metric(stack, name, **labels):
    text = requests.get(f"{stack.web_url}/metrics", timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{"):
            series, value = line.rsplit(" ", 1)
            got = series[len(name) + 1 : -1].split(",")
            if all(part in got for part in wanted.split(",") if part):
                total += float(value)
    return total


def test_alert_becomes_a_delivered_sms_with_full_timeline(stack):
    number = "+14155550111"
    alert_id = post_alert(stack, number)
    notification = final_notification(stack, alert_id)
    assert notification["state"] == "delivered"
    expected = [
        "alert.accepted",
        "notification.planned",
        "escalation.step_fired",
        "notification.sending",
        "notification.queued",
    ]
    kinds = [e["kind"] for e in view(stack, alert_id)["timeline"] if e["kind"] in expected]
    assert kinds == expected
    statuses = [
        e["detail"]["Status"]
        for e in view(stack, alert_id)["timeline"]
        if e["kind"] == "callback.sms_status"
    ]
    assert statuses == ["queued", "sent", "delivered"]
    [sent] = sent_messages_to(stack, number)
    assert "disk full on db1" in sent["body"]["text"]
    assert sent["body"]["url"].endswith(f"/plivo/sms/status?n={notification['id']}")
    assert metric(stack, "alert_dispatch_sms_sent_total", result="accepted") >= 1
    assert metric(stack, "alert_dispatch_delivery_reports_total", status="delivered") >= 1
    assert metric(stack, "alert_dispatch_alerts_accepted_total", outcome="created") >= 1


def _post_callback(stack, params, *, token=SIMULATOR_AUTH_TOKEN, query=""):
    url = f"{stack.web_url}/plivo/sms/status{query}"
    headers = sign_request_headers(token, url, params)
    return requests.post(url, data=params, headers=headers, timeout=5)


def _inbox_empty(stack):
    """Every report the receiver took has been applied by the worker."""
    from shared.notifications import report_inbox

    client = redis.Redis.from_url(stack.redis_url)
    try:
        return report_inbox.waiting(client) == 0
    finally:
        client.close()


def _event_count(stack):
    with session_scope(stack.database_url) as session:
        return session.scalar(select(func.count()).select_from(Event))


def test_same_delivery_report_twice_changes_nothing(stack):
    alert_id = post_alert(stack, "+14155550112")
    notification = final_notification(stack, alert_id)
    params = {
        "MessageUUID": notification["provider_uuid"],
        "Status": "delivered",
        "To": "14155550112",
        "From": "14155550000",
        "Units": "1",
    }
    before = _event_count(stack)
    response = _post_callback(stack, params, query=f"?n={notification['id']}")
    assert (response.status_code, response.text) == (200, "ok\n")
    wait_for(lambda: _inbox_empty(stack))  # trimmed only once the worker committed
    assert _event_count(stack) == before
    assert view(stack, alert_id)["notifications"][0]["state"] == "delivered"


def test_tampered_or_unsigned_callback_is_403_and_not_recorded(stack):
    params = {"MessageUUID": "abc", "Status": "delivered"}
    before = _event_count(stack)
    url = f"{stack.web_url}/plivo/sms/status"
    headers = sign_request_headers(SIMULATOR_AUTH_TOKEN, url, params)
    tampered = requests.post(url, data={**params, "Status": "failed"}, headers=headers, timeout=5)
    unsigned = requests.post(url, data=params, timeout=5)
    wrong_key = _post_callback(stack, params, token="not-the-token")
    assert [tampered.status_code, unsigned.status_code, wrong_key.status_code] == [403] * 3
    assert _event_count(stack) == before


def test_callback_for_unknown_message_is_200_and_counted(stack):
    before = metric(stack, "alert_dispatch_delivery_reports_total", outcome="unknown_message")
    response = _post_callback(stack, {"MessageUUID": "no-such-uuid", "Status": "delivered"})
    assert response.status_code == 200
    # Counted by the worker that applies it; this stack's /metrics shows the workers' counts.
    wait_for(
        lambda: (
            metric(stack, "alert_dispatch_delivery_reports_total", outcome="unknown_message")
            == before + 1
        )
    )


def test_tasks_that_run_twice_do_not_send_twice(stack):
    from worker import enqueue

    number = "+14155550113"
    alert_id = post_alert(stack, number)
    notification = final_notification(stack, alert_id)
    # Redeliveries of both tasks, as a crashed worker's broker would make.
    for _ in range(3):
        assert enqueue.dispatch_alert(alert_id)
        assert enqueue.send_sms(notification["id"])
    wait_for(lambda: metric(stack, "alert_dispatch_sms_sent_total", result="skipped") >= 3)
    time.sleep(0.5)
    assert len(sent_messages_to(stack, number)) == 1
    with session_scope(stack.database_url) as session:
        count = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.alert_id == alert_id)
        )
    assert count == 1


def test_undelivered_report_is_recorded_with_its_error(stack):
    number = "+14155550114"
    requests.post(
        f"{stack.simulator_url}/_sim/scenarios",
        json={"number": number, "sms": "undelivered:70"},
        timeout=5,
    ).raise_for_status()
    alert_id = post_alert(stack, number)
    notification = final_notification(stack, alert_id)
    assert (notification["state"], notification["error_code"]) == ("undelivered", "70")


def test_critical_first_page_overtakes_a_queue_of_warnings(tmp_path):
    """With the only worker down, 12 warnings then 1 critical pile up; once a worker
    starts, the critical page leaves among the first, not last. (Its own Redis:
    no other test's worker may take these tasks.)"""
    with Stack(
        StackConfig(
            data_dir=tmp_path,
            workers=0,
            worker_concurrency=1,
            extra_env={"SMS_PER_SECOND": "50", "SENDER_SMS_PER_SECOND": "50"},
        )
    ) as s:
        numbers = [f"+1415555{n:04d}" for n in range(400, 413)]
        for number in numbers[:-1]:
            post_alert(s, number, severity="warning")
        post_alert(s, numbers[-1], severity="critical")
        # Routing runs first (ingest queue); the sends queue up by priority behind it.
        s.start_worker("worker1")
        wait_for(lambda: len(sent_messages_to_any(s, numbers)) == len(numbers), timeout=60)
        order = sent_messages_to_any(s, numbers)
        assert order.index(numbers[-1].lstrip("+")) < 4, order


def sent_messages_to_any(stack, numbers):
    wanted = {n.lstrip("+") for n in numbers}
    seen = requests.get(f"{stack.simulator_url}/_sim/requests", timeout=5).json()
    return [
        str(r["body"]["dst"])
        for r in seen
        if r["method"] == "POST"
        and r["path"].endswith("/Message/")
        and str((r.get("body") or {}).get("dst")) in wanted
    ]


def test_an_answer_task_run_three_times_sends_one_sms(stack):
    from worker import enqueue

    number = "+14155550115"
    alert_id = post_alert(stack, number)
    final_notification(stack, alert_id)
    answer = requests.post(
        f"{stack.simulator_url}/_sim/inbound_sms",
        json={
            "from": number,
            "to": "+14155550000",
            "text": "HELP",
            "url": f"{stack.web_url}/plivo/sms/inbound",
        },
        timeout=10,
    ).json()
    assert answer["status"] == 200
    [_page, help_text] = wait_for(lambda: len(m := sent_messages_to(stack, number)) == 2 and m)
    assert "acknowledge" in help_text["body"]["text"]
    with session_scope(stack.database_url) as session:
        [reply_id] = session.scalars(select(Event.id).where(Event.kind == "sms.reply_queued"))
    skipped = metric(stack, "alert_dispatch_sms_sent_total", result="skipped")
    # Redeliveries, as a crashed worker's broker would make: the id only, never the number.
    assert enqueue.send_reply(reply_id) and enqueue.send_reply(reply_id)
    wait_for(
        lambda: metric(stack, "alert_dispatch_sms_sent_total", result="skipped") >= skipped + 2
    )
    assert len(sent_messages_to(stack, number)) == 2


def test_a_deploy_just_before_the_alert_is_named_in_its_sms(stack):
    """A PagerDuty change event to the alert's service minutes before it: the page says so."""
    four_minutes_ago = datetime.now(UTC) - timedelta(minutes=4, seconds=10)
    change = {
        "routing_key": stack.config.api_token,
        "payload": {
            "summary": "deployed payments v2.3",
            "source": "payments-e2e",
            "timestamp": four_minutes_ago.isoformat(),
        },
    }
    response = requests.post(f"{stack.web_url}/v2/change/enqueue", json=change, timeout=10)
    assert response.status_code == 202, response.text
    number = "+14155550177"
    alert_id = post_alert(stack, number, source="payments-e2e", summary="payments 5xx up")
    assert final_notification(stack, alert_id)["state"] == "delivered"
    [sent] = sent_messages_to(stack, number)
    assert "payments 5xx up" in sent["body"]["text"]
    assert "deployed payments v2.3 4 min ago" in sent["body"]["text"]
    shown = view(stack, alert_id)["recent_changes"]
    assert [c["summary"] for c in shown] == ["deployed payments v2.3"]
