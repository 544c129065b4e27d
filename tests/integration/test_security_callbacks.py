"""Plivo callbacks take effect at most once, and only where they belong.

Each test is an attack (or a misconfiguration) played against the real
receiver over HTTP, with requests signed as Plivo signs them, and checks what
the attacker would see and what the database and the broker then hold.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import requests
from sqlalchemy import func, select

from cli.stack import SIMULATOR_AUTH_TOKEN, free_port
from shared.core.db import session_scope
from shared.core.models import AckCode, Alert, Event, Notification, OptOut
from shared.core.settings import load_settings
from shared.plivo.signature import sign_request_headers
from shared.replies.code_store import code_for
from tests.broker_messages import queued_anywhere
from tests.conftest import ServedApp
from webhooks.app import create_app

OUR_NUMBER = "14155550000"
PERSON = "+14155550901"


# --------------------------------------------------------------------------- helpers


def signed_post(receiver, path, params, *, url_signed=None, headers=None):
    """POST `params` to the receiver signed as Plivo would; the (response, request) pair,
    so a test can send the very same bytes again."""
    url = f"{receiver.url}{path}"
    signed = {
        **sign_request_headers(SIMULATOR_AUTH_TOKEN, url_signed or url, params),
        **(headers or {}),
    }
    return requests.post(url, data=params, headers=signed, timeout=10), (url, params, signed)


def replay(sent):
    url, params, headers = sent
    return requests.post(url, data=params, headers=headers, timeout=10)


def inbound(receiver, text, sender=PERSON, message_uuid=None):
    intent = {"STOP": "optout", "START": "optin", "HELP": "help"}.get(text.strip().upper(), "")
    params = {
        "From": sender.lstrip("+"),
        "To": OUR_NUMBER,
        "Text": text,
        "Type": "sms",
        "MessageUUID": message_uuid or str(uuid.uuid4()),
        "MessageIntent": intent,
    }
    return signed_post(receiver, "/plivo/sms/inbound", params)


def page(url, destination=PERSON, channel="sms", *, state="delivered", provider_uuid="auto"):
    """An open alert already paged to `destination`: (alert id, notification id, code)."""
    with session_scope(url) as session:
        alert = Alert(
            summary="disk full on db1",
            severity="critical",
            source="test",
            status="triggered",
            escalation="stopped",
        )
        session.add(alert)
        session.flush()
        notification = Notification(
            alert_id=alert.id,
            channel=channel,
            destination=destination,
            state=state,
            text="disk full",
            send_attempts=1,
            provider_uuid=str(uuid.uuid4()) if provider_uuid == "auto" else provider_uuid,
        )
        session.add(notification)
        session.flush()
        code = code_for(session, [alert.id], destination) if channel == "sms" else 0
        return alert.id, notification.id, code


def alert_status(url, alert_id):
    with session_scope(url) as session:
        return session.get(Alert, alert_id).status


def events_of_kind(url, kind):
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(Event).where(Event.kind == kind))


def opted_out(url, number=PERSON):
    with session_scope(url) as session:
        return session.get(OptOut, number) is not None


def queued_replies(redis_client):
    """The notify.send_reply tasks waiting in the broker: (args, argsrepr) each."""
    return [
        (queued.args, queued.headers.get("argsrepr", ""))
        for queued in queued_anywhere(redis_client, "notify.send_reply")
    ]


def metric(receiver, name, **labels):
    text = requests.get(f"{receiver.url}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def rejected(receiver, reason):
    return metric(receiver, "alert_dispatch_callbacks_rejected_total", reason=reason)


def voice_params(request_uuid, call_uuid=None, **extra):
    return {
        "CallUUID": call_uuid or str(uuid.uuid4()),
        "RequestUUID": request_uuid,
        "From": OUR_NUMBER,
        "To": PERSON.lstrip("+"),
        "CallStatus": "in-progress",
        **extra,
    }


# --------------------------------------------------------------------------- 2: replays


def test_replayed_ack_does_not_acknowledge_a_newer_alert(receiver, redis_client, database_url):
    old_alert, _n, code = page(database_url)
    first, sent = inbound(receiver, f"{code}A")
    assert first.status_code == 200
    assert alert_status(database_url, old_alert) == "acknowledged"
    new_alert, _n, new_code = page(database_url)
    assert new_code != code  # a code just retired is not handed out again
    before = rejected(receiver, "replayed")

    again = replay(sent)

    assert again.status_code == 403
    assert alert_status(database_url, new_alert) == "triggered"
    assert rejected(receiver, "replayed") == before + 1


def test_replayed_stop_after_start_keeps_the_number_opted_in(receiver, redis_client, database_url):
    page(database_url)
    stop, sent_stop = inbound(receiver, "STOP")
    assert stop.status_code == 200 and opted_out(database_url)
    start, _ = inbound(receiver, "START")
    assert start.status_code == 200 and not opted_out(database_url)

    assert replay(sent_stop).status_code == 403
    assert not opted_out(database_url)


def test_same_message_uuid_with_a_fresh_nonce_is_applied_once(receiver, redis_client, database_url):
    page(database_url)
    stop_uuid = str(uuid.uuid4())
    inbound(receiver, "STOP", message_uuid=stop_uuid)
    inbound(receiver, "START")
    help_uuid = str(uuid.uuid4())
    inbound(receiver, "HELP", message_uuid=help_uuid)

    # The same messages posted again, each freshly signed: validly, so 200, but no effect.
    assert inbound(receiver, "STOP", message_uuid=stop_uuid)[0].status_code == 200
    assert inbound(receiver, "HELP", message_uuid=help_uuid)[0].status_code == 200

    assert not opted_out(database_url)
    assert len(queued_replies(redis_client)) == 1
    assert events_of_kind(database_url, "sms.inbound") == 3


def test_replayed_delivery_report_is_refused(receiver, redis_client, database_url):
    _alert, notification_id, _code = page(database_url, state="queued", provider_uuid="msg-1")
    params = {
        "MessageUUID": "msg-1",
        "Status": "delivered",
        "To": PERSON.lstrip("+"),
        "From": OUR_NUMBER,
        "Units": "1",
    }
    first, sent = signed_post(receiver, f"/plivo/sms/status?n={notification_id}", params)
    assert first.status_code == 200
    waiting = redis_client.lrange("plivo:sms-reports", 0, -1)  # the report inbox
    assert len(waiting) == 1

    assert replay(sent).status_code == 403
    assert redis_client.lrange("plivo:sms-reports", 0, -1) == waiting


def test_replayed_keypress_and_hangup_are_refused(receiver, redis_client, database_url):
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="sent", provider_uuid="req-1"
    )
    call = voice_params("req-1", Digits="1")
    pressed, sent_press = signed_post(receiver, f"/plivo/voice/input?n={notification_id}", call)
    assert pressed.status_code == 200
    assert alert_status(database_url, alert_id) == "acknowledged"

    assert replay(sent_press).status_code == 403
    assert events_of_kind(database_url, "call.keypress") == 1

    hangup = {**call, "CallStatus": "completed", "Event": "Hangup", "HangupCause": "NORMAL"}
    del hangup["Digits"]
    ended, sent_hangup = signed_post(receiver, f"/plivo/voice/hangup?n={notification_id}", hangup)
    assert (ended.status_code, ended.text) == (200, "ok\n")
    assert replay(sent_hangup).status_code == 403
    assert events_of_kind(database_url, "call.hangup") == 1


def test_a_forged_request_does_not_burn_the_nonce_of_a_real_one(
    receiver, redis_client, database_url
):
    alert_id, _n, code = page(database_url)
    params = {
        "From": PERSON.lstrip("+"),
        "To": OUR_NUMBER,
        "Text": f"{code}A",
        "Type": "sms",
        "MessageUUID": str(uuid.uuid4()),
        "MessageIntent": "",
    }
    url = f"{receiver.url}/plivo/sms/inbound"
    genuine = sign_request_headers(SIMULATOR_AUTH_TOKEN, url, params)
    forged = {**genuine, "X-Plivo-Signature-V3": "Zm9yZ2Vk"}

    assert requests.post(url, data=params, headers=forged, timeout=10).status_code == 403
    assert requests.post(url, data=params, headers=genuine, timeout=10).status_code == 200
    assert alert_status(database_url, alert_id) == "acknowledged"


def test_redis_down_refuses_callbacks_with_503(database_url, broker_env, tmp_path, caplog):
    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        DATA_DIR=str(tmp_path),
        API_TOKENS="t",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        PLIVO_AUTH_TOKEN=SIMULATOR_AUTH_TOKEN,
    )
    from worker import enqueue

    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    try:
        alert_id, _n, code = page(database_url)
        response, _ = inbound(served, f"{code}A")
    finally:
        served.stop()
    assert response.status_code == 503
    assert alert_status(database_url, alert_id) == "triggered"
    assert "Redis is unavailable" in caplog.text


# --------------------------------------------------------------------------- 8: answers


def test_a_stranger_gets_no_answer_at_all(receiver, redis_client, database_url):
    stranger = "+14155550977"
    before = metric(receiver, "alert_dispatch_replies_withheld_total", reason="unknown_number")
    for _ in range(6):
        assert inbound(receiver, "9A", sender=stranger)[0].status_code == 200
    assert queued_replies(redis_client) == []
    after = metric(receiver, "alert_dispatch_replies_withheld_total", reason="unknown_number")
    assert after == before + 6


def test_answers_to_a_contact_are_capped_and_carry_no_number(receiver, redis_client, database_url):
    page(database_url)
    for _ in range(8):
        assert inbound(receiver, "9A")[0].status_code == 200
    replies = queued_replies(redis_client)
    assert len(replies) == 5
    digits = PERSON.lstrip("+")
    for args, argsrepr in replies:
        assert len(args) == 1 and isinstance(args[0], int)
        assert digits not in argsrepr and digits[-7:] not in json.dumps(args)
    with session_scope(database_url) as session:
        queued = session.get(Event, replies[0][0][0])
        assert (queued.kind, queued.detail["destination"]) == ("sms.reply_queued", PERSON)
        assert queued.detail["text"] == "No open alert with code 9 for this number."


def test_answers_overall_are_capped(receiver, redis_client, database_url):
    people = [f"+141555510{i:02d}" for i in range(21)]
    for person in people:
        page(database_url, destination=person)
    for person in people:
        for _ in range(3):
            assert inbound(receiver, "HELP", sender=person)[0].status_code == 200
    assert len(queued_replies(redis_client)) == 60


# --------------------------------------------------------------------------- 12: the right call


def test_keypress_on_an_sms_notification_changes_nothing(receiver, redis_client, database_url):
    alert_id, notification_id, _ = page(database_url)
    before = rejected(receiver, "wrong_call")
    response, _ = signed_post(
        receiver,
        f"/plivo/voice/input?n={notification_id}",
        voice_params(str(uuid.uuid4()), Digits="1"),
    )
    assert response.status_code == 200
    assert "Goodbye" in response.text and "GetInput" not in response.text
    assert alert_status(database_url, alert_id) == "triggered"
    assert rejected(receiver, "wrong_call") == before + 1


def test_keypress_from_another_call_changes_nothing(receiver, redis_client, database_url):
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="sent", provider_uuid="req-ours"
    )
    path = f"/plivo/voice/input?n={notification_id}"
    other = signed_post(receiver, path, voice_params("req-other", Digits="1"))[0]
    assert "Goodbye" in other.text
    assert alert_status(database_url, alert_id) == "triggered"
    for hook in ("answer", "machine", "hangup"):
        params = voice_params("req-other", Machine="true", CallStatus="no-answer")
        signed_post(receiver, f"/plivo/voice/{hook}?n={notification_id}", params)
    with session_scope(database_url) as session:
        notification = session.get(Notification, notification_id)
        assert (notification.state, notification.outcome) == ("sent", None)
    ours = signed_post(receiver, path, voice_params("req-ours", Digits="1"))[0]
    assert ours.status_code == 200
    assert alert_status(database_url, alert_id) == "acknowledged"


def test_answer_before_the_worker_stored_the_call_still_binds_it(
    receiver, redis_client, database_url
):
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="sending", provider_uuid=None
    )
    call_uuid = str(uuid.uuid4())
    answered = signed_post(
        receiver, f"/plivo/voice/answer?n={notification_id}", voice_params("req-early", call_uuid)
    )[0]
    assert "GetInput" in answered.text
    with session_scope(database_url) as session:
        assert session.get(Notification, notification_id).provider_uuid == "req-early"
    pressed = signed_post(
        receiver, f"/plivo/voice/input?n={notification_id}", {"CallUUID": call_uuid, "Digits": "1"}
    )[0]
    assert pressed.status_code == 200
    assert alert_status(database_url, alert_id) == "acknowledged"


# --------------------------------------------------------------------------- 14e and labels


def test_callbacks_signed_for_another_url_show_in_healthz(receiver, redis_client, database_url):
    assert requests.get(f"{receiver.url}/healthz", timeout=5).json()["callbacks"] == "ok"
    port = receiver.url.rsplit(":", 1)[1]
    public = f"http://alerts.example.net:{port}"
    response, _ = signed_post(
        receiver,
        "/plivo/sms/status",
        {"MessageUUID": "m", "Status": "delivered"},
        url_signed=f"{public}/plivo/sms/status",
        headers={"Host": f"alerts.example.net:{port}"},
    )
    assert response.status_code == 403
    health = requests.get(f"{receiver.url}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json()["callbacks"] == (
        f"refused: signed for {public} but PUBLIC_BASE_URL is {receiver.url}"
    )


def test_start_up_names_the_url_callbacks_are_verified_against(tmp_path, broker_env, caplog):
    settings = load_settings(
        DATA_DIR=str(tmp_path),
        REDIS_URL=broker_env,
        API_TOKENS="t",
        PUBLIC_BASE_URL="https://hooks.example.com",
    )
    with caplog.at_level(logging.INFO, logger="webhooks.plivo_callbacks"):
        create_app(settings)
    assert "verified against PUBLIC_BASE_URL https://hooks.example.com" in caplog.text


def test_report_status_label_is_bounded(receiver, redis_client, database_url):
    odd = "status-" + uuid.uuid4().hex
    response, _ = signed_post(
        receiver, "/plivo/sms/status", {"MessageUUID": "nobody-knows", "Status": odd}
    )
    assert response.status_code == 200
    text = requests.get(f"{receiver.url}/metrics", timeout=5).text
    assert odd not in text
    assert metric(receiver, "alert_dispatch_delivery_reports_total", status="other") >= 1


@pytest.mark.parametrize("hours_ago", [1, 23])
def test_a_code_retired_today_is_not_given_to_the_same_person(database_url, hours_ago):
    from datetime import timedelta

    from sqlalchemy import update

    from shared.core.models import utcnow

    first, _n, code = page(database_url)
    with session_scope(database_url) as session:
        from shared.alerts.lifecycle import acknowledge

        acknowledge(session, first, by="t", via="api")
        row = session.scalars(select(AckCode).where(AckCode.alert_id == first)).one()
        assert row.retired_at is not None and not row.active
        session.execute(
            update(AckCode)
            .where(AckCode.id == row.id)
            .values(retired_at=utcnow() - timedelta(hours=hours_ago))
        )
    _second, _n, again = page(database_url)
    _third, _n, other_person = page(database_url, destination="+14155550902")
    assert again != code
    assert other_person == 1


# --------------------------------------------------------------------------- bundled calls


def bundled_call(url, lead_alert_id, lead_id):
    """A second open alert whose voice notification rides on call `lead_id`: (alert, member)."""
    with session_scope(url) as session:
        alert = Alert(summary="db down", severity="critical", source="test", status="triggered")
        session.add(alert)
        session.flush()
        member = Notification(
            alert_id=alert.id,
            channel="voice",
            destination=PERSON,
            state="sending",
            text="db down",
            send_attempts=1,
            bundle_lead_id=lead_id,
        )
        session.add(member)
        session.flush()
        return alert.id, member.id


def ended_notifications(redis_client):
    """The notification ids of every queued escalation.notification_ended task."""
    return [
        queued.args[0] for queued in queued_anywhere(redis_client, "escalation.notification_ended")
    ]


def moves(url, notification_id):
    """(state, error_code, outcome, the reasons of its moves in order)."""
    with session_scope(url) as session:
        row = session.get(Notification, notification_id)
        reasons = [
            event.detail.get("reason")
            for event in session.scalars(
                select(Event)
                .where(Event.notification_id == notification_id, Event.kind.like("notification.%"))
                .order_by(Event.id)
            )
        ]
        return row.state, row.error_code, row.outcome, reasons


def test_an_unanswered_bundled_call_ends_every_notification_on_it(
    receiver, redis_client, database_url
):
    alert_id, lead, _ = page(database_url, channel="voice", state="sent", provider_uuid="req-b")
    _other, member = bundled_call(database_url, alert_id, lead)
    before = ended_notifications(redis_client)
    hangup = voice_params("req-b", CallStatus="no-answer", Event="Hangup")
    ended = signed_post(receiver, f"/plivo/voice/hangup?n={lead}", hangup)[0]
    assert (ended.status_code, ended.text) == (200, "ok\n")

    reason = "not reached: no-answer"
    assert moves(database_url, lead) == ("undelivered", "no-answer", "not_reached", [reason])
    assert moves(database_url, member) == ("undelivered", "no-answer", "not_reached", [reason])
    after = ended_notifications(redis_client)
    assert sorted(after[len(before) :]) == sorted([lead, member])


def test_an_acknowledged_bundled_call_delivers_every_notification_on_it(
    receiver, redis_client, database_url
):
    alert_id, lead, _ = page(database_url, channel="voice", state="sent", provider_uuid="req-c")
    other, member = bundled_call(database_url, alert_id, lead)
    call = voice_params("req-c", Digits="1")
    assert signed_post(receiver, f"/plivo/voice/input?n={lead}", call)[0].status_code == 200
    assert (alert_status(database_url, alert_id), alert_status(database_url, other)) == (
        "acknowledged",
        "acknowledged",
    )
    before = ended_notifications(redis_client)
    hangup = {**call, "CallStatus": "completed", "Event": "Hangup", "HangupCause": "NORMAL"}
    del hangup["Digits"]
    signed_post(receiver, f"/plivo/voice/hangup?n={lead}", hangup)

    lead_moves = moves(database_url, lead)
    member_moves = moves(database_url, member)
    assert lead_moves == ("delivered", None, "acknowledged", ["call ended: acknowledged"])
    assert member_moves == ("delivered", None, None, ["bundle: acknowledged"])
    assert ended_notifications(redis_client) == before
