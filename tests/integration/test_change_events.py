"""PagerDuty change events over real HTTP: accepted as PagerDuty does, stored, shown with alerts."""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pagerduty
import pytest
import requests
from sqlalchemy import select

from shared.core.db import session_scope
from shared.core.models import Alert, ChangeEvent, Event
from tests.conftest import ServedApp
from tests.integration.test_pagerduty_client_tls import TlsTerminator, self_signed_certificate

API_TOKEN = "token-one"  # the `receiver` fixture's API_TOKENS; PagerDuty falls back to them
PD_KEY = "0123456789abcdef0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
NUMBER = "+14155550101"
CHANGE_PATH = "/v2/change/enqueue"
INVALID = {"status": "invalid event", "message": "Event object is invalid"}


def change(key: str | None = API_TOKEN, **payload: object) -> dict[str, object]:
    body: dict[str, object] = {
        "payload": {
            "summary": "deployed checkout v2.3",
            "source": "ci.example.com",
            "custom_details": {"service": "Checkout", "build": 7},
            **payload,
        },
        "links": [{"href": "https://ci.example.com/7", "text": "build 7"}],
    }
    if key is not None:
        body["routing_key"] = key
    return body


def post(app: ServedApp, path: str, body: object, headers=None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        f"{app.url}{path}",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=30,
    )


def stored(app: ServedApp) -> list[ChangeEvent]:
    with session_scope(app.settings.effective_database_url) as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(ChangeEvent).order_by(ChangeEvent.id)))


def logged(app: ServedApp) -> list[Event]:
    with session_scope(app.settings.effective_database_url) as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Event).where(Event.kind == "change.accepted")))


def minutes_ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def create_alert(app: ServedApp, source: str = "checkout", **fields: object) -> int:
    body = {"summary": "checkout errors up", "source": source, "recipients": [NUMBER], **fields}
    response = post(app, "/api/v1/alerts", body, headers=AUTH)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def view(app: ServedApp, alert_id: int, headers=AUTH) -> dict:
    response = requests.get(f"{app.url}/api/v1/alerts/{alert_id}", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


# --------------------------------------------------------------------------- accepted


def test_official_client_sends_a_change_event_through_the_tls_terminated_receiver(
    receiver, tmp_path: Path
):
    cert, key = self_signed_certificate(tmp_path)
    terminator = TlsTerminator(receiver.url, cert, key)
    try:
        client = pagerduty.EventsApiV2Client(
            API_TOKEN,
            base_url=terminator.url,
            verify=ssl.create_default_context(cafile=str(cert)),
            trust_env=False,
        )
        seen: list[int] = []
        client.event_hooks["response"].append(lambda response: seen.append(response.status_code))
        client.send_change_event(
            payload={
                "summary": "deployed checkout v2.3",
                "source": "ci.example.com",
                "custom_details": {"service": "checkout"},
            },
            links=[{"href": "https://ci.example.com/7", "text": "build 7"}],
        )
    finally:
        terminator.stop()

    assert seen == [202]
    [row] = stored(receiver)
    assert (row.scope, row.summary, row.source, row.service) == (
        "api",
        "deployed checkout v2.3",
        "ci.example.com",
        "checkout",
    )
    assert row.details["links"] == [{"href": "https://ci.example.com/7", "text": "build 7"}]
    [event] = logged(receiver)
    assert event.alert_id is None
    assert event.detail["change_id"] == row.id and event.detail["service"] == "checkout"


def test_change_event_is_answered_as_pagerduty_does(receiver):
    response = post(receiver, CHANGE_PATH, change())
    assert response.status_code == 202
    assert response.json() == {"status": "success", "message": "Change event processed"}
    assert [c.summary for c in stored(receiver)] == ["deployed checkout v2.3"]


def test_routing_key_in_header_as_older_clients_send_it(receiver):
    response = post(receiver, CHANGE_PATH, change(None), headers={"X-Routing-Key": API_TOKEN})
    assert response.status_code == 202, response.text
    assert len(stored(receiver)) == 1


def test_a_timestamp_ahead_of_our_clock_counts_as_the_arrival_time(receiver):
    before = datetime.now(UTC)
    post(receiver, CHANGE_PATH, change(timestamp="2999-01-01T00:00:00Z"))
    [row] = stored(receiver)
    assert before <= row.changed_at <= row.received_at
    assert row.details["timestamp"] == "2999-01-01T00:00:00Z"


# --------------------------------------------------------------------------- shown with alerts


def test_alert_view_shows_recent_changes_to_its_service_newest_first(receiver):
    alert_id = create_alert(receiver, source="checkout")
    sent = [
        change(summary="deployed checkout v2.3", timestamp=minutes_ago(4.2)),
        change(summary="deployed billing v9", custom_details={"service": "billing"}),
        change(summary="deployed checkout v2.1", timestamp=minutes_ago(45)),
        change(summary="flag on", source="CHECKOUT", custom_details={}, timestamp=minutes_ago(1.5)),
    ]
    for body in sent:
        assert post(receiver, CHANGE_PATH, body).status_code == 202

    shown = view(receiver, alert_id)["recent_changes"]

    assert [c["text"] for c in shown] == ["flag on 1 min ago", "deployed checkout v2.3 4 min ago"]
    assert shown[1]["service"] == "Checkout" and shown[1]["source"] == "ci.example.com"
    assert shown[1]["links"] == [{"href": "https://ci.example.com/7", "text": "build 7"}]


def test_alert_without_changes_shows_none(receiver):
    alert_id = create_alert(receiver, source="inventory")
    post(receiver, CHANGE_PATH, change())
    assert view(receiver, alert_id)["recent_changes"] == []


@pytest.fixture
def scoped(database_url: str, broker_env: str, tmp_path: Path) -> Iterator[ServedApp]:
    """The receiver with a routing key of PagerDuty's own (scope "pagerduty")."""
    from cli.stack import free_port
    from shared.core.settings import load_settings
    from webhooks.app import create_app
    from worker import enqueue

    port = free_port()
    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,
        DATA_DIR=str(tmp_path),
        API_TOKENS=API_TOKEN,
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        INTEGRATION_TOKENS=f"pagerduty={PD_KEY}",
    )
    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    served.settings = settings  # type: ignore[attr-defined]
    yield served
    served.stop()


def test_a_change_is_shown_only_with_alerts_of_its_own_scope(scoped):
    api_alert = create_alert(scoped, source="checkout")
    trigger = {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "dedup_key": "checkout-errors",
        "payload": {"summary": "errors up", "source": "Checkout", "severity": "critical"},
    }
    response = post(scoped, "/v2/enqueue", trigger)
    assert response.status_code == 202, response.text
    with session_scope(scoped.settings.effective_database_url) as session:  # type: ignore[attr-defined]
        pd_alert = session.scalars(select(Alert.id).where(Alert.integration == "pagerduty")).one()

    assert post(scoped, CHANGE_PATH, change(PD_KEY)).status_code == 202
    refused = post(scoped, CHANGE_PATH, change(API_TOKEN))

    assert refused.status_code == 400 and refused.json()["errors"] == ["Invalid routing key"]
    assert [c.scope for c in stored(scoped)] == ["pagerduty"]
    assert [c["summary"] for c in view(scoped, pd_alert)["recent_changes"]] == [
        "deployed checkout v2.3"
    ]
    assert view(scoped, api_alert)["recent_changes"] == []


# --------------------------------------------------------------------------- refused


@pytest.mark.parametrize(
    ("body", "headers", "errors"),
    [
        (change(None), {}, ["'routing_key' is missing or blank"]),
        (change(""), {}, ["'routing_key' is missing or blank"]),
        (change("not-a-key"), {}, ["Invalid routing key"]),
        (change(f"{API_TOKEN} "), {}, ["Invalid routing key"]),
        (change(None), {"X-Routing-Key": f"{API_TOKEN} "}, ["Invalid routing key"]),
        (change(12345), {}, ["Invalid routing key"]),
        # Nothing else is read before the key is checked.
        ({"routing_key": "wrong", "payload": {"summary": ""}}, {}, ["Invalid routing key"]),
        ({"routing_key": "wrong", "payload": "x" * 10}, {}, ["Invalid routing key"]),
    ],
    ids=[
        "missing",
        "empty",
        "wrong",
        "trailing-space",
        "header-space",
        "number",
        "bad-body",
        "str",
    ],
)
def test_routing_key_is_checked_first_and_exactly(receiver, body, headers, errors):
    response = post(receiver, CHANGE_PATH, body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {**INVALID, "errors": errors}
    assert stored(receiver) == [] and logged(receiver) == []


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {"payload": None},
            [
                "'payload' is invalid (Input should be a valid dictionary or instance of "
                "ChangePayload)"
            ],
        ),
        ({"payload": {"source": "ci"}}, ["'payload.summary' is missing or blank"]),
        ({"payload": {"summary": " \u200b "}}, ["'payload.summary' is missing or blank"]),
        (
            {"payload": {"summary": "x" * 1025, "source": "s" * 256}},
            [
                "'payload.summary' is too long (maximum 1024 characters)",
                "'payload.source' is too long (maximum 255 characters)",
            ],
        ),
        (
            {"payload": {"summary": "x", "timestamp": "last tuesday"}},
            ["'payload.timestamp' is invalid (not an ISO 8601 date and time)"],
        ),
        (
            {"payload": {"summary": "x", "custom_details": {"service": 42}}},
            ["'payload.custom_details.service' is invalid (Input should be a valid string)"],
        ),
        (
            {"payload": {"summary": "x", "custom_details": {"service": "s" * 256}}},
            ["'payload.custom_details.service' is too long (maximum 255 characters)"],
        ),
        (
            {"payload": {"summary": "x", "custom_details": {"log": "l" * 20_000}}},
            ["'payload.custom_details' is too large (maximum 16384 bytes as JSON)"],
        ),
        (
            {"payload": {"summary": "x"}, "links": [{"text": "no href"}]},
            ["'links.0.href' is missing or blank"],
        ),
        (
            {"payload": {"summary": "x"}, "links": [{"href": "https://x"}] * 21},
            ["'links' has too many entries (maximum 20)"],
        ),
    ],
    ids=[
        "payload-null",
        "no-summary",
        "invisible-summary",
        "too-long",
        "timestamp",
        "service-type",
        "service-long",
        "details-large",
        "link-href",
        "links-many",
    ],
)
def test_invalid_change_event_is_pagerdutys_400_naming_the_field(receiver, payload, errors):
    response = post(receiver, CHANGE_PATH, {"routing_key": API_TOKEN, **payload})
    assert response.status_code == 400
    assert response.json() == {**INVALID, "errors": errors}
    assert stored(receiver) == []


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{oops", "Event object is not valid JSON"),
        (b'["routing_key"]', "Event object must be a JSON object"),
        (b"[" * 100_000, "Event object nests deeper than 32 levels"),
        (
            b'{"routing_key": "token-one", "payload": {"summary": "x", "custom_details": '
            b'{"n": NaN}}}',
            "NaN",
        ),
    ],
    ids=["malformed", "not-an-object", "deep", "nan"],
)
def test_the_trigger_paths_json_limits_apply(receiver, raw, error):
    response = post(receiver, CHANGE_PATH, raw)
    assert response.status_code == 400
    [message] = response.json()["errors"]
    assert error in message
    assert stored(receiver) == []


def test_body_over_the_limit_is_413(receiver):
    body = change(summary="x", custom_details={"pad": "p" * (2 * 1024 * 1024)})
    response = post(receiver, CHANGE_PATH, body)
    assert response.status_code == 413
    assert stored(receiver) == []


# --------------------------------------------------------------------------- counted


def metric(app: ServedApp, name: str, **labels: str) -> float:
    text = requests.get(f"{app.url}/metrics", timeout=10).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}\{{{wanted}\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_accepted_and_rejected_change_events_are_counted(receiver):
    name = "alert_dispatch_change_events_total"
    accepted = metric(receiver, name, result="accepted")
    rejected = metric(receiver, name, result="rejected")
    ingest_400 = metric(receiver, "alert_dispatch_ingest_rejected_total", status="400")

    post(receiver, CHANGE_PATH, change())
    post(receiver, CHANGE_PATH, change("wrong"))
    post(receiver, CHANGE_PATH, change(summary=""))

    assert metric(receiver, name, result="accepted") == accepted + 1
    assert metric(receiver, name, result="rejected") == rejected + 2
    assert metric(receiver, "alert_dispatch_ingest_rejected_total", status="400") == ingest_400 + 2
