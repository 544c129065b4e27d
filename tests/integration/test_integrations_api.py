"""Alertmanager, Grafana and PagerDuty over real HTTP, and the Python producer API."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import select, text

from shared.alerts.integration_auth import grafana_signature
from shared.core.db import get_engine, session_scope
from shared.core.models import Alert, Event
from shared.notifications.priority import page_priority
from tests.broker_messages import queued_anywhere
from tests.conftest import FIXTURES, ServedApp
from tests.integration.test_formats import GRAFANA
from worker.task_names import DISPATCH_ALERT, DISPATCH_ALERTS

REPO = Path(__file__).resolve().parents[2]
AM_TOKEN = "am-token-0001"
GRAFANA_TOKEN = "grafana-token-0001"
PD_KEY = "0123456789abcdef0123456789abcdef"
API_TOKEN = "api-token-0001"
HMAC_SECRET = "grafana-hmac-secret"


def am_body(name: str) -> bytes:
    return (FIXTURES / "alertmanager" / f"{name}.json").read_bytes()


@pytest.fixture
def serve(database_url: str, broker_env: str, tmp_path: Path) -> Iterator[Callable[..., ServedApp]]:
    """Serve the receiver with integration settings; overrides replace the defaults below."""
    from cli.stack import free_port
    from shared.core.settings import load_settings
    from webhooks.app import create_app
    from worker import enqueue

    served: list[ServedApp] = []

    def start(**overrides: object) -> ServedApp:
        port = free_port()
        values: dict[str, object] = {
            "DATABASE_URL": database_url,
            "REDIS_URL": broker_env,
            "DATA_DIR": str(tmp_path),
            "API_TOKENS": API_TOKEN,
            "INTEGRATION_TOKENS": (
                f"alertmanager={AM_TOKEN},grafana={GRAFANA_TOKEN},pagerduty={PD_KEY}"
            ),
            "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            "CONFIG_FILE": str(REPO / "config" / "oncall.example.yaml"),
            **overrides,
        }
        settings = load_settings(**values)
        app = ServedApp(create_app(settings, enqueue=enqueue), port)
        app.settings = settings  # type: ignore[attr-defined]
        served.append(app)
        return app

    yield start
    for app in served:
        app.stop()


@pytest.fixture
def receiver(serve: Callable[..., ServedApp]) -> ServedApp:
    return serve()


def alerts(app: ServedApp) -> list[Alert]:
    with session_scope(app.settings.effective_database_url) as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def by_key(app: ServedApp) -> dict[str, Alert]:
    return {alert.dedup_key: alert for alert in alerts(app) if alert.dedup_key}


def post_am(app: ServedApp, body: bytes, token: str | None = AM_TOKEN) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(
        f"{app.url}/api/v1/integrations/alertmanager", data=body, headers=headers, timeout=10
    )


KEY_DB1 = "alertmanager:dispatch:4a03254b5362f7f9"
KEY_DB2 = "alertmanager:dispatch:f21955e0e26d8b8a"


# --------------------------------------------------------------------------- Alertmanager


def test_alertmanager_firing_group_becomes_two_alerts_with_labels_and_annotations(receiver):
    started = time.monotonic()
    response = post_am(receiver, am_body("webhook-firing"))
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 2
    assert [(a["dedup_key"], a["status"]) for a in body["alerts"]] == [
        (KEY_DB1, "created"),
        (KEY_DB2, "created"),
    ]
    # Answered once stored: no worker and no Plivo exist in this test at all.
    assert elapsed < 2.0
    stored = by_key(receiver)
    assert set(stored) == {KEY_DB1, KEY_DB2}
    db1 = stored[KEY_DB1]
    assert (db1.summary, db1.severity, db1.source, db1.status) == (
        "Primary database unreachable",
        "critical",
        "alertmanager",
        "triggered",
    )
    assert db1.labels == {
        "alertname": "DatabaseDown",
        "instance": "db1:5432",
        "service": "db-cluster-1",
        "severity": "critical",
    }
    assert db1.details["annotations"]["description"] == "db1 has not answered for 2 minutes"
    assert stored[KEY_DB2].summary == "Replica database unreachable"


def test_alertmanager_annotation_holding_a_nul_is_stored_as_sent(receiver):
    """A NUL escaped in an annotation (a text pasted from a binary log) is kept in the
    alert's details as JSON keeps it, on every database: the body is not refused."""
    body = json.loads(am_body("webhook-firing"))
    body["alerts"][0]["annotations"]["description"] = "log line: \x00 end"
    response = post_am(receiver, json.dumps(body).encode())
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2
    stored = by_key(receiver)
    assert stored[KEY_DB1].details["annotations"]["description"] == "log line: \x00 end"
    assert stored[KEY_DB1].summary == "Primary database unreachable"


def test_alertmanager_repeat_notification_is_deduplicated(receiver):
    post_am(receiver, am_body("webhook-firing"))
    response = post_am(receiver, am_body("webhook-firing"))
    assert [a["status"] for a in response.json()["alerts"]] == ["deduplicated", "deduplicated"]
    assert all(a["queued"] is False for a in response.json()["alerts"])
    stored = alerts(receiver)
    assert len(stored) == 2 and all(a.occurrences == 2 for a in stored)


def test_alertmanager_resolved_alert_closes_only_its_own(receiver):
    post_am(receiver, am_body("webhook-firing"))
    response = post_am(receiver, am_body("webhook-resolved-and-firing"))
    assert [a["status"] for a in response.json()["alerts"]] == ["resolved", "deduplicated"]
    stored = by_key(receiver)
    assert stored[KEY_DB1].status == "resolved" and stored[KEY_DB1].resolved_at is not None
    assert stored[KEY_DB2].status == "triggered"
    # Firing again after the resolve is a new problem: a new alert.
    again = post_am(receiver, am_body("webhook-firing")).json()["alerts"]
    assert [a["status"] for a in again] == ["created", "deduplicated"]
    assert len(alerts(receiver)) == 3


def test_alertmanager_needs_its_own_token(receiver):
    assert post_am(receiver, am_body("webhook-firing"), token=None).status_code == 401
    assert post_am(receiver, am_body("webhook-firing"), token=GRAFANA_TOKEN).status_code == 401
    assert post_am(receiver, am_body("webhook-firing"), token=API_TOKEN).status_code == 401
    assert alerts(receiver) == []


def test_integration_without_its_own_token_accepts_the_api_tokens(serve):
    app = serve(INTEGRATION_TOKENS=f"grafana={GRAFANA_TOKEN}")
    assert post_am(app, am_body("webhook-firing"), token=API_TOKEN).status_code == 202


def test_alertmanager_bad_input_is_4xx_naming_the_problem(receiver):
    assert post_am(receiver, b'{"receiver": ').json() == {
        "error": "body is not valid JSON",
        "status": 400,
    }
    body = json.loads(am_body("webhook-firing"))
    del body["alerts"][0]["fingerprint"]
    body["alerts"][1]["labels"] = "db2"
    response = post_am(receiver, json.dumps(body).encode())
    assert response.status_code == 422
    assert response.json()["error"] == "invalid Alertmanager webhook"
    assert {f["field"] for f in response.json()["fields"]} == {
        "alerts.0.fingerprint",
        "alerts.1.labels",
    }
    assert post_am(receiver, b"[]").status_code == 422
    assert alerts(receiver) == []


def test_oversized_body_is_413(serve):
    app = serve(MAX_BODY_BYTES=1024)
    assert post_am(app, b"{" + b" " * 2048 + b"}").status_code == 413


def am_group(count: int) -> dict:
    """Alertmanager's real body shape holding `count` alerts of mixed severities."""
    body = json.loads(am_body("webhook-firing"))
    template = body["alerts"][0]
    body["alerts"] = [
        {
            **copy.deepcopy(template),
            "fingerprint": f"{index:016x}",
            "labels": {
                **template["labels"],
                "instance": f"db{index}:5432",
                "severity": ("critical", "warning", "info")[index % 3],
            },
        }
        for index in range(count)
    ]
    return body


def routing_messages(client: redis.Redis) -> list[tuple[list[int], int]]:
    """(alert ids, priority) of every routing task waiting in the broker."""
    found = []
    for queued in queued_anywhere(client):
        if queued.task in (DISPATCH_ALERT, DISPATCH_ALERTS):
            [argument] = queued.args
            ids = argument if queued.task == DISPATCH_ALERTS else [argument]
            found.append((ids, queued.priority))
    return found


def dispatches(client: redis.Redis) -> list[int]:
    """Every alert id some routing task in the broker will route."""
    return sorted(alert_id for ids, _ in routing_messages(client) for alert_id in ids)


def test_alertmanager_group_of_a_hundred_is_stored_and_every_new_alert_dispatched(
    receiver, redis_client
):
    body = am_group(100)
    repeat = copy.deepcopy(body["alerts"][7])  # the same alert twice in one group
    resolved = {**copy.deepcopy(body["alerts"][9]), "status": "resolved"}
    body["alerts"] += [repeat, resolved]

    response = post_am(receiver, json.dumps(body).encode())

    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["accepted"] == 102
    statuses = [(a["status"], a["queued"]) for a in answer["alerts"]]
    assert statuses == [("created", True)] * 100 + [("deduplicated", False), ("resolved", False)]
    ids = [a["id"] for a in answer["alerts"]]
    assert ids[100] == ids[7] and ids[101] == ids[9]
    stored = {alert.id: alert for alert in alerts(receiver)}
    assert sorted(stored) == sorted(ids[:100])
    assert stored[ids[7]].occurrences == 2 and stored[ids[9]].status == "resolved"
    assert sum(alert.status == "triggered" for alert in stored.values()) == 99
    # Each new alert routed once; a group is routed together, most urgent first, in
    # tasks of at most 50 queued at the priority of their most urgent alert.
    assert dispatches(redis_client) == sorted(stored)
    messages = routing_messages(redis_client)
    assert len(messages) == 2 and all(len(ids) <= 50 for ids, _ in messages)
    urgency = [
        page_priority(stored[i].severity)
        for ids, _ in sorted(messages, key=lambda m: m[1])
        for i in ids
    ]
    assert urgency == sorted(urgency)
    assert all(priority == page_priority(stored[ids[0]].severity) for ids, priority in messages)


REFUSE_FROM_THE_51ST = {
    "sqlite": [
        "CREATE TRIGGER refuse_alert BEFORE INSERT ON alerts"
        " WHEN (SELECT count(*) FROM alerts) >= 50"
        " BEGIN SELECT RAISE(ABORT, 'disk quota exceeded'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_alert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
        " IF (SELECT count(*) FROM alerts) >= 50 THEN RAISE EXCEPTION 'disk quota exceeded';"
        " END IF; RETURN NEW; END $$",
        "CREATE TRIGGER refuse_alert BEFORE INSERT ON alerts"
        " FOR EACH ROW EXECUTE FUNCTION refuse_alert()",
    ],
}
ACCEPT_AGAIN = {
    "sqlite": ["DROP TRIGGER refuse_alert"],
    "postgresql": ["DROP TRIGGER refuse_alert ON alerts", "DROP FUNCTION refuse_alert()"],
}


def run_sql(url: str, statements: dict[str, list[str]]) -> None:
    engine = get_engine(url)
    with engine.begin() as connection:
        for statement in statements[engine.dialect.name]:
            connection.execute(text(statement))


def test_alertmanager_group_the_database_refuses_midway_stores_none_and_its_retry_each_once(
    receiver, redis_client, database_url
):
    body = json.dumps(am_group(100)).encode()
    run_sql(database_url, REFUSE_FROM_THE_51ST)

    refused = post_am(receiver, body)

    assert refused.status_code == 503, refused.text
    assert alerts(receiver) == [] and dispatches(redis_client) == []

    # Alertmanager sends the whole group again: every alert is new, none counted twice.
    run_sql(database_url, ACCEPT_AGAIN)
    retried = post_am(receiver, body)
    assert retried.status_code == 202, retried.text
    assert [a["status"] for a in retried.json()["alerts"]] == ["created"] * 100
    stored = alerts(receiver)
    assert len(stored) == 100 and {alert.occurrences for alert in stored} == {1}
    assert dispatches(redis_client) == sorted(a.id for a in stored)


# --------------------------------------------------------------------------- Grafana


def post_grafana(app, body: bytes, *, method="POST", headers=None, token=GRAFANA_TOKEN):
    return requests.request(
        method,
        f"{app.url}/api/v1/integrations/grafana",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            **(headers or {}),
        },
        timeout=10,
    )


GRAFANA_KEY = "grafana:1:dispatch-webhook:c6eadffa33fcdf37"


def test_grafana_without_hmac_secret_takes_token_only_post_or_put(receiver):
    body = json.dumps(GRAFANA).encode()
    response = post_grafana(receiver, body)
    assert response.status_code == 202, response.text
    assert response.json()["alerts"][0]["dedup_key"] == GRAFANA_KEY
    assert post_grafana(receiver, body, method="PUT").json()["alerts"][0]["status"] == (
        "deduplicated"
    )
    assert post_grafana(receiver, body, token=AM_TOKEN).status_code == 401
    stored = by_key(receiver)[GRAFANA_KEY]
    assert stored.source == "grafana" and stored.labels["team"] == "db"
    assert stored.details["values"] == {"B": 91.5, "C": 1}


def test_grafana_hmac_signature_is_required_when_configured(serve):
    app = serve(GRAFANA_HMAC_SECRET=HMAC_SECRET)
    body = json.dumps(GRAFANA).encode()
    stamp = str(int(time.time()))
    timed = {
        "X-Grafana-Alerting-Signature": grafana_signature(HMAC_SECRET, body, stamp),
        "X-Grafana-Alerting-Signature-Timestamp": stamp,
    }
    assert post_grafana(app, body, headers=timed).status_code == 202


SIGNATURE = "X-Grafana-Alerting-Signature"
TIMESTAMP = "X-Grafana-Alerting-Signature-Timestamp"


@pytest.mark.parametrize(
    ("headers", "field", "reason"),
    [
        ({}, SIGNATURE, "missing signature"),
        ({SIGNATURE: "SIGNED-UNTIMED"}, TIMESTAMP, "missing timestamp"),
        ({SIGNATURE: "0" * 64, TIMESTAMP: "NOW"}, SIGNATURE, "signature does not match"),
        ({SIGNATURE: "SIGNED-OTHER-BODY", TIMESTAMP: "NOW"}, SIGNATURE, "signature does not match"),
        (
            {SIGNATURE: "SIGNED-STALE", TIMESTAMP: "STALE"},
            TIMESTAMP,
            "timestamp outside the allowed window",
        ),
    ],
)
def test_grafana_wrong_or_missing_signature_is_401(serve, headers, field, reason):
    app = serve(GRAFANA_HMAC_SECRET=HMAC_SECRET)
    body = json.dumps(GRAFANA).encode()
    now = str(int(time.time()))
    stale = str(int(time.time()) - 3600)
    headers = {
        name: {
            "SIGNED-UNTIMED": grafana_signature(HMAC_SECRET, body),
            "SIGNED-OTHER-BODY": grafana_signature(HMAC_SECRET, body + b" ", now),
            "SIGNED-STALE": grafana_signature(HMAC_SECRET, body, stale),
            "STALE": stale,
            "NOW": now,
        }.get(value, value)
        for name, value in headers.items()
    }
    response = post_grafana(app, body, headers=headers)
    assert response.status_code == 401
    assert response.json()["fields"] == [{"field": field, "message": reason}]
    assert alerts(app) == []


def test_grafana_bad_body_is_422_naming_fields(receiver):
    body = copy.deepcopy(GRAFANA)
    body["version"] = "4"
    response = post_grafana(receiver, json.dumps(body).encode())
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "version"


# --------------------------------------------------------------------------- PagerDuty v2


def pd(app: ServedApp, event: dict, **headers: str) -> requests.Response:
    """What a PagerDuty Events API v2 client sends, with only the URL changed."""
    return requests.post(
        f"{app.url}/v2/enqueue",
        data=json.dumps(event),
        headers={"Content-Type": "application/json", "Accept": "application/json", **headers},
        timeout=10,
    )


def test_pagerduty_trigger_acknowledge_resolve_round_trip(receiver):
    trigger = {
        "routing_key": PD_KEY,
        "event_action": "trigger",
        "payload": {
            "summary": "Example alert on host1.example.com",
            "timestamp": "2015-07-17T08:42:58.315+0000",
            "source": "monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-003",
            "severity": "critical",
            "component": "postgres",
            "group": "prod-datapipe",
            "class": "deploy",
            "custom_details": {"ping time": "1500ms", "load avg": 0.75},
        },
        "links": [{"href": "https://example.com/", "text": "Link text"}],
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
    }
    response = pd(receiver, trigger)
    assert response.status_code == 202
    body = response.json()
    key = body["dedup_key"]
    assert body == {"status": "success", "message": "Event processed", "dedup_key": key}
    assert len(key) == 32
    [alert] = alerts(receiver)
    assert (alert.summary, alert.severity, alert.source, alert.dedup_key) == (
        "Example alert on host1.example.com",
        "critical",
        "pagerduty",
        key,
    )
    assert alert.labels["component"] == "postgres"
    assert alert.details["custom_details"] == {"ping time": "1500ms", "load avg": 0.75}

    # The same key again: the open alert counts an occurrence, nobody is paged again.
    assert pd(receiver, {**trigger, "dedup_key": key}).json()["dedup_key"] == key
    assert [a.occurrences for a in alerts(receiver)] == [2]

    ack = pd(receiver, {"routing_key": PD_KEY, "dedup_key": key, "event_action": "acknowledge"})
    assert ack.status_code == 202
    assert ack.json() == {"status": "success", "message": "Event processed", "dedup_key": key}
    [alert] = alerts(receiver)
    assert alert.status == "acknowledged" and alert.acknowledged_via == "pagerduty"

    resolve = pd(receiver, {"routing_key": PD_KEY, "dedup_key": key, "event_action": "resolve"})
    assert resolve.status_code == 202 and resolve.json()["dedup_key"] == key
    [alert] = alerts(receiver)
    assert alert.status == "resolved"

    # As at PagerDuty, a resolve for a closed or unknown key is accepted and dropped.
    again = pd(receiver, {"routing_key": PD_KEY, "dedup_key": key, "event_action": "resolve"})
    assert again.status_code == 202
    with session_scope(receiver.settings.effective_database_url) as session:
        kinds = list(session.scalars(select(Event.kind).where(Event.alert_id == alert.id)))
    assert kinds.count("alert.resolved") == 1


def test_pagerduty_routing_key_in_header_as_older_clients_send_it(receiver):
    event = {
        "event_action": "trigger",
        "dedup_key": "hdr",
        "payload": {"summary": "s", "source": "h", "severity": "info"},
    }
    assert pd(receiver, event, **{"X-Routing-Key": PD_KEY}).status_code == 202


@pytest.mark.parametrize(
    ("event", "errors"),
    [
        ({"routing_key": "not-the-key", "event_action": "trigger"}, ["Invalid routing key"]),
        ({"routing_key": AM_TOKEN, "event_action": "trigger"}, ["Invalid routing key"]),
        (
            {
                "event_action": "trigger",
                "payload": {"summary": "s", "source": "h", "severity": "info"},
            },
            ["'routing_key' is missing or blank"],
        ),
        (
            {
                "routing_key": PD_KEY,
                "event_action": "trigger",
                "payload": {"source": "h", "severity": "fatal"},
            },
            [
                "'payload.summary' is missing or blank",
                "'payload.severity' is invalid (must be one of the following: "
                "'critical', 'error', 'warning' or 'info')",
            ],
        ),
        (
            {"routing_key": PD_KEY, "event_action": "resolve"},
            ["'dedup_key' is missing or blank (required to resolve)"],
        ),
    ],
)
def test_pagerduty_invalid_events_get_pagerdutys_400(receiver, event, errors):
    response = pd(receiver, event)
    assert response.status_code == 400
    assert response.json() == {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": errors,
    }
    assert alerts(receiver) == []


def test_pagerduty_malformed_json_is_400_in_pagerdutys_shape(receiver):
    response = requests.post(f"{receiver.url}/v2/enqueue", data=b"{oops", timeout=10)
    assert response.status_code == 400
    assert response.json()["errors"] == ["Event object is not valid JSON"]


def test_openapi_document_is_served_and_lists_every_endpoint(receiver):
    document = requests.get(f"{receiver.url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/alerts/{alert_id}/ack",
        "/api/v1/alerts/{alert_id}/resolve",
        "/api/v1/alerts/{alert_id}/timeline",
        "/api/v1/integrations/alertmanager",
        "/api/v1/integrations/grafana",
        "/api/v1/notices",
        "/api/v1/notices/{name}",
        "/api/v1/notices/{name}/cancel",
        "/api/v1/notices/{name}/status",
        "/api/v1/oncall",
        "/api/v1/oncall/{schedule}",
        "/api/v1/schedules/{schedule}/overrides",
        "/api/v1/schedules/{schedule}/overrides/{override_id}",
        "/api/v1/subscriber-lists",
        "/api/v1/subscriber-lists/{name}",
        "/api/v1/subscriber-lists/{name}/numbers",
        "/v2/enqueue",
        "/v2/change/enqueue",
        "/healthz",
        "/metrics",
        "/openapi.json",
    }
    assert "bearerAuth" in document["components"]["securitySchemes"]


def test_malformed_integration_tokens_stop_start_up(database_url, broker_env, tmp_path):
    from shared.alerts.integration_auth import IntegrationConfigError
    from shared.core.settings import load_settings
    from webhooks.app import create_app

    settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,
        DATA_DIR=str(tmp_path),
        INTEGRATION_TOKENS="grafna=x",
    )
    with pytest.raises(IntegrationConfigError, match="unknown integration 'grafna'"):
        create_app(settings)


# --------------------------------------------------------------------------- Python producer API


@pytest.fixture
def producer_settings(database_url, broker_env, tmp_path):
    from shared.core.settings import load_settings

    return load_settings(DATABASE_URL=database_url, REDIS_URL=broker_env, DATA_DIR=str(tmp_path))


def test_submit_alert_returns_the_committed_id_and_deduplicates(producer_settings):
    from worker.producer import resolve_alert, submit_alert

    alert = {
        "summary": "payments queue stuck",
        "severity": "critical",
        "dedup_key": "payments-queue",
        "recipients": ["+14155550101"],
        "source": "payments",
    }
    first = submit_alert(alert, settings=producer_settings)
    with session_scope(producer_settings.effective_database_url) as session:
        stored = session.get(Alert, first)
        assert stored.summary == "payments queue stuck" and stored.status == "triggered"
    assert submit_alert(alert, settings=producer_settings) == first
    assert resolve_alert("payments-queue", settings=producer_settings) == first
    assert resolve_alert("payments-queue", settings=producer_settings) is None
    assert submit_alert(alert, settings=producer_settings) != first


def test_submit_alert_with_broker_down_still_returns_the_stored_id(producer_settings, monkeypatch):
    from worker import enqueue
    from worker.producer import submit_alert

    monkeypatch.setattr(enqueue, "dispatch_alert", lambda alert_id: False)  # broker unreachable
    alert_id = submit_alert(
        {"summary": "x", "recipients": ["+14155550101"]}, settings=producer_settings
    )
    with session_scope(producer_settings.effective_database_url) as session:
        stored = session.get(Alert, alert_id)
        # Never dispatched: exactly what the periodic tick looks for to hand it over.
        assert stored is not None and stored.dispatched_at is None


@pytest.mark.parametrize(
    ("alert", "fields"),
    [
        ({"severity": "apocalyptic", "recipients": ["+14155550101"]}, {"summary", "severity"}),
        ({"summary": "x", "recipients": ["555"]}, {"recipients.0"}),
        ({"summary": "x"}, {"recipients"}),
        ({"summary": "x", "action": "resolve", "dedup_key": "k"}, {"action"}),
    ],
)
def test_submit_alert_refuses_invalid_input_naming_fields(producer_settings, alert, fields):
    from worker.producer import InvalidAlert, submit_alert

    with pytest.raises(InvalidAlert) as exc:
        submit_alert(alert, settings=producer_settings)
    assert {f["field"] for f in exc.value.fields} == fields
    with session_scope(producer_settings.effective_database_url) as session:
        assert session.scalar(select(Alert.id)) is None
