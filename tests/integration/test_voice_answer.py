"""What a person hears when they pick up: signed answer callbacks through real HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import requests

from tests.integration.test_security_callbacks import page, signed_post, voice_params

AUTH = {"Authorization": "Bearer token-one"}  # the `receiver` fixture's API token


def answer(receiver, notification_id, request_uuid):
    return signed_post(
        receiver, f"/plivo/voice/answer?n={notification_id}", voice_params(request_uuid)
    )[0]


def test_a_call_answered_after_the_ack_says_who_acknowledged_it(
    receiver, redis_client, database_url
):
    request_uuid = str(uuid.uuid4())
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="queued", provider_uuid=request_uuid
    )
    acked = requests.post(
        f"{receiver.url}/api/v1/alerts/{alert_id}/ack",
        json={"by": "bob"},
        headers=AUTH,
        timeout=10,
    )
    assert acked.status_code == 200 and acked.json()["changed"]
    answered = answer(receiver, notification_id, request_uuid)
    assert answered.status_code == 200
    assert "This alert was already acknowledged by bob" in answered.text
    assert "GetInput" not in answered.text  # nothing left to press


def test_a_call_names_a_deploy_to_its_service_just_before(receiver, redis_client, database_url):
    request_uuid = str(uuid.uuid4())
    alert_id, notification_id, _ = page(
        database_url, channel="voice", state="queued", provider_uuid=request_uuid
    )  # source "test"
    changed_at = datetime.now(UTC) - timedelta(minutes=4, seconds=10)
    change = {
        "routing_key": "token-one",
        "payload": {
            "summary": "deployed db1 v2.3",
            "source": "test",
            "timestamp": changed_at.isoformat(),
        },
    }
    stored = requests.post(f"{receiver.url}/v2/change/enqueue", json=change, timeout=10)
    assert stored.status_code == 202, stored.text
    answered = answer(receiver, notification_id, request_uuid)
    assert "GetInput" in answered.text
    assert "deployed db1 v2.3" in answered.text and "4 minutes ago" in answered.text
