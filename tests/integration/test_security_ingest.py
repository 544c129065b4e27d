"""Attacks on the ingestion endpoints, over real HTTP against the served receiver.

Each test is an attack report reproduced: what an unauthenticated or
misbehaving client sends, and what it must get back (a clear 4xx, nothing
stored, nothing paged), never a 2xx it should not have, never a 500.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from shared.alerts.integration_auth import grafana_signature
from shared.core.db import session_scope
from shared.core.models import Alert
from tests.conftest import FIXTURES, ServedApp
from tests.integration.test_formats import GRAFANA

API_TOKEN = "token-one"  # the `receiver` fixture's API_TOKENS
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
NUMBER = "+14155550101"
ALERT = {"summary": "disk full on db1", "dedup_key": "disk-db1", "recipients": [NUMBER]}
DEEP = b"[" * 100_000
DEPTH_ERROR = "body nests deeper than 32 levels"


def alerts(app: ServedApp) -> list[Alert]:
    with session_scope(app.settings.effective_database_url) as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def post(
    app: ServedApp,
    path: str,
    body: bytes | dict | None = None,
    *,
    headers=None,
    method: str = "POST",
) -> requests.Response:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return requests.request(
        method,
        f"{app.url}{path}",
        data=data,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=30,
    )


def create_alert(app: ServedApp, **fields: object) -> int:
    response = post(app, "/api/v1/alerts", {**ALERT, **fields}, headers=AUTH)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def status_of(app: ServedApp, alert_id: int) -> str:
    return {a.id: a.status for a in alerts(app)}[alert_id]


def am_body() -> bytes:
    return (FIXTURES / "alertmanager" / "webhook-firing.json").read_bytes()


def nested(levels: int, leaf: str = "1") -> str:
    """`levels` objects, one inside the other, as JSON text."""
    return '{"a":' * levels + leaf + "}" * levels


# Every bearer-token endpoint, with a body it would accept.
BEARER_ENDPOINTS = [
    ("POST", "/api/v1/alerts", json.dumps(ALERT).encode()),
    ("GET", "/api/v1/alerts/1", None),
    ("POST", "/api/v1/alerts/1/ack", b""),
    ("POST", "/api/v1/alerts/1/resolve", b""),
    ("POST", "/api/v1/integrations/alertmanager", am_body()),
    ("POST", "/api/v1/integrations/grafana", json.dumps(GRAFANA).encode()),
]
JSON_ENDPOINTS = [
    "/api/v1/alerts",
    "/api/v1/alerts/1/ack",
    "/api/v1/alerts/1/resolve",
    "/api/v1/integrations/alertmanager",
    "/api/v1/integrations/grafana",
    "/v2/enqueue",
]


def pd_event(routing_key: object, action: str = "trigger", **extra: object) -> dict:
    event: dict = {"routing_key": routing_key, "event_action": action, **extra}
    if action == "trigger":
        event.setdefault("payload", {"summary": "s", "source": "h", "severity": "critical"})
    return event


# --------------------------------------------------------------------------- 1. authentication


@pytest.mark.parametrize("key", ["\u001f", "\u001c", "\u001d\u001e", " ", "\t", "", "\u200b"])
def test_pagerduty_key_that_strips_to_nothing_does_not_page(receiver, key):
    response = post(receiver, "/v2/enqueue", pd_event(key))
    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"
    assert response.json()["errors"] in (
        ["Invalid routing key"],
        ["'routing_key' is missing or blank"],
    )
    assert alerts(receiver) == []


@pytest.mark.parametrize("key", ["\u001c", "\u001f", " "])
def test_pagerduty_blank_key_cannot_resolve_an_api_alert(receiver, key):
    alert_id = create_alert(receiver)
    response = post(receiver, "/v2/enqueue", pd_event(key, "resolve", dedup_key=ALERT["dedup_key"]))
    assert response.status_code == 400
    assert status_of(receiver, alert_id) == "triggered"


def test_pagerduty_header_key_is_checked_exactly_too(receiver):
    event = pd_event(None)
    del event["routing_key"]
    assert (
        post(receiver, "/v2/enqueue", event, headers={"X-Routing-Key": f"{API_TOKEN} "}).status_code
        == 400
    )
    assert post(receiver, "/v2/enqueue", event).json()["errors"] == [
        "'routing_key' is missing or blank"
    ]
    assert alerts(receiver) == []
    assert (
        post(receiver, "/v2/enqueue", event, headers={"X-Routing-Key": API_TOKEN}).status_code
        == 202
    )


@pytest.mark.parametrize(("method", "path", "body"), BEARER_ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Bearer ",
        "Bearer \u001f",
        "Bearer \u001f\u001c",
        f"Bearer {API_TOKEN}x",
        f"Bearer {API_TOKEN[:-1]}",
        f"Basic {API_TOKEN}",
    ],
)
def test_bearer_endpoints_refuse_every_near_miss(receiver, method, path, body, authorization):
    alert_id = create_alert(receiver)
    assert alert_id == 1
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = post(receiver, path, body, headers=headers, method=method)
    assert response.status_code == 401, response.text
    assert [a.status for a in alerts(receiver)] == ["triggered"]


@pytest.mark.parametrize(("method", "path", "body"), BEARER_ENDPOINTS)
def test_authentication_comes_before_the_body_is_read(receiver, method, path, body):
    # Unauthenticated garbage is a 401, never a parser's 400 or a 500.
    for garbage in (b"{oops", DEEP):
        response = post(receiver, path, garbage, method=method)
        assert response.status_code == 401, response.text


# --------------------------------------------------------------------------- 6. deep JSON


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
@pytest.mark.parametrize(
    "body",
    [DEEP, b"{" + b'"a":{' * 50_000, nested(990).encode()],
    ids=["arrays", "objects", "990-objects"],
)
def test_deep_json_is_a_400_naming_the_depth_on_every_endpoint(receiver, path, body):
    create_alert(receiver)
    headers = {} if path == "/v2/enqueue" else AUTH
    response = post(receiver, path, body, headers=headers)
    assert response.status_code == 400, response.text
    if path == "/v2/enqueue":
        assert response.json()["errors"] == ["Event object nests deeper than 32 levels"]
    else:
        assert response.json()["error"] == DEPTH_ERROR


def test_deep_details_are_refused_but_32_levels_are_stored_and_served(receiver):
    def body(levels: int) -> bytes:
        return (
            json.dumps({**ALERT, "dedup_key": None})[:-1] + f', "details": {nested(levels)}}}'
        ).encode()

    too_deep = post(receiver, "/api/v1/alerts", body(990), headers=AUTH)
    assert too_deep.status_code == 400 and too_deep.json()["error"] == DEPTH_ERROR
    # body (1) + details (2) + 30 more levels = 32: accepted, stored, served back.
    accepted = post(receiver, "/api/v1/alerts", body(31), headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    view = requests.get(
        f"{receiver.url}/api/v1/alerts/{accepted.json()['id']}", headers=AUTH, timeout=10
    )
    assert view.status_code == 200
    [stored] = alerts(receiver)
    assert json.dumps(stored.details, separators=(",", ":")) == nested(31)
    assert post(receiver, "/api/v1/alerts", body(32), headers=AUTH).status_code == 400


def test_deep_pagerduty_custom_details_are_refused(receiver):
    event = json.dumps(pd_event(API_TOKEN)).replace(
        '"severity": "critical"', f'"severity": "critical", "custom_details": {nested(990)}'
    )
    response = post(receiver, "/v2/enqueue", event.encode())
    assert response.status_code == 400
    assert response.json()["errors"] == ["Event object nests deeper than 32 levels"]
    assert alerts(receiver) == []


def test_bus_entries_go_through_the_same_reader():
    from shared.alerts.formats import FormatError
    from shared.alerts.formats.bus import decode_json_object, decode_stream_fields

    with pytest.raises(FormatError, match="nests deeper than 32 levels"):
        decode_json_object(DEEP.decode())
    with pytest.raises(FormatError, match="field details nests deeper than 32 levels"):
        decode_stream_fields({"summary": "s", "details": "[" * 5000})
    with pytest.raises(FormatError, match="1e400"):
        decode_json_object('{"summary": "s", "details": {"n": 1e400}}')


# --------------------------------------------------------------------------- 10. non-finite


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1E+999"])
def test_number_beyond_a_finite_float_is_refused_like_nan(receiver, number):
    raw = json.dumps({**ALERT, "details": {"n": "X"}}).replace('"X"', number).encode()
    response = post(receiver, "/api/v1/alerts", raw, headers=AUTH)
    assert response.status_code == 400
    assert number in response.json()["error"] and "not a finite number" in response.json()["error"]
    event = json.dumps(pd_event(API_TOKEN)).replace(
        '"severity": "critical"', f'"severity": "critical", "custom_details": {{"n": {number}}}'
    )
    response = post(receiver, "/v2/enqueue", event.encode())
    assert response.status_code == 400 and number in response.json()["errors"][0]
    assert alerts(receiver) == []


def test_lone_surrogate_is_refused_not_a_storage_failure(receiver):
    # "\ud800" is valid JSON syntax but no character: no database can store it as text.
    raw = json.dumps({**ALERT, "summary": "disk \ud800 full"}).encode()
    response = post(receiver, "/api/v1/alerts", raw, headers=AUTH)
    assert response.status_code == 400
    assert "surrogate" in response.json()["error"]
    assert alerts(receiver) == []


# --------------------------------------------------------------------------- 11. metric labels


def _accepted_series(app: ServedApp) -> list[str]:
    text = requests.get(f"{app.url}/metrics", timeout=10).text
    return re.findall(r"^alert_dispatch_alerts_accepted_total\{[^}]*\}", text, re.MULTILINE)


def test_producer_text_never_becomes_a_metric_label(receiver):
    create_alert(receiver, source="warm-up", dedup_key=None)
    before = _accepted_series(receiver)
    sources = [f"src-{secrets.token_hex(8)}" for _ in range(50)]
    for source in sources:
        create_alert(receiver, source=source, dedup_key=None)
    after = _accepted_series(receiver)
    assert len(after) == len(before)
    assert not [s for s in after if "src-" in s or "warm-up" in s]
    assert any('source="api"' in s for s in after)


def test_bounded_label_folds_unknown_values():
    from shared.core.metrics import INGEST_PATHS, bounded_label

    assert bounded_label("grafana", INGEST_PATHS) == "grafana"
    assert bounded_label("evil\nlabel", INGEST_PATHS) == "other"
    assert bounded_label(None, INGEST_PATHS) == "other"


# --------------------------------------------------------------------------- 13. token scopes

AM_TOKEN = "am-token-0001"
PD_KEY = "0123456789abcdef0123456789abcdef"
AM_KEY = "alertmanager:dispatch:4a03254b5362f7f9"


@pytest.fixture
def scoped(database_url: str, broker_env: str, tmp_path: Path) -> Iterator[ServedApp]:
    """The receiver with per-integration tokens for Alertmanager and PagerDuty."""
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
        INTEGRATION_TOKENS=f"pagerduty={PD_KEY},alertmanager={AM_TOKEN}",
    )
    served = ServedApp(create_app(settings, enqueue=enqueue), port)
    served.settings = settings  # type: ignore[attr-defined]
    yield served
    served.stop()


def test_pagerduty_token_cannot_touch_alertmanager_or_api_alerts(scoped):
    am = post(
        scoped,
        "/api/v1/integrations/alertmanager",
        am_body(),
        headers={"Authorization": f"Bearer {AM_TOKEN}"},
    )
    assert am.status_code == 202
    api_id = create_alert(scoped)

    for key in (AM_KEY, ALERT["dedup_key"]):
        for action in ("acknowledge", "resolve"):
            response = post(scoped, "/v2/enqueue", pd_event(PD_KEY, action, dedup_key=key))
            assert response.status_code == 202  # as at PagerDuty: unknown key, dropped
    by_key = {a.dedup_key: a for a in alerts(scoped)}
    assert by_key[AM_KEY].status == "triggered" and by_key[AM_KEY].integration == "alertmanager"
    assert status_of(scoped, api_id) == "triggered" and by_key["disk-db1"].integration == "api"

    # A trigger with another integration's key is a new alert of its own, not an occurrence.
    post(scoped, "/v2/enqueue", pd_event(PD_KEY, dedup_key=AM_KEY))
    mine = [a for a in alerts(scoped) if a.dedup_key == AM_KEY]
    assert sorted((a.integration, a.occurrences) for a in mine) == [
        ("alertmanager", 1),
        ("pagerduty", 1),
    ]
    # Each token still closes its own.
    post(scoped, "/v2/enqueue", pd_event(PD_KEY, "resolve", dedup_key=AM_KEY))
    states = {a.integration: a.status for a in alerts(scoped) if a.dedup_key == AM_KEY}
    assert states == {"alertmanager": "triggered", "pagerduty": "resolved"}


def test_dedup_keys_are_scoped_in_storage_too(database_url):
    from shared.alerts.ingest import ingest
    from shared.alerts.schemas import AlertIn

    def event(action: str = "trigger") -> AlertIn:
        return AlertIn(summary="s", dedup_key="k", action=action, recipients=[NUMBER])

    with session_scope(database_url) as session:
        api = ingest(session, event(), via="api")
        pd = ingest(session, event(), via="pagerduty", integration="pagerduty")
        again = ingest(session, event(), via="pagerduty", integration="pagerduty")
        closed = ingest(session, event("resolve"), via="alertmanager", integration="alertmanager")
    assert api.outcome == pd.outcome == "created" and api.alert_id != pd.alert_id
    assert (again.alert_id, again.outcome) == (pd.alert_id, "deduplicated")
    assert closed.outcome == "ignored"


def test_without_own_tokens_every_integration_shares_the_api_scope(receiver):
    alert_id = create_alert(receiver)
    response = post(
        receiver, "/v2/enqueue", pd_event(API_TOKEN, "resolve", dedup_key=ALERT["dedup_key"])
    )
    assert response.status_code == 202
    assert status_of(receiver, alert_id) == "resolved"


# --------------------------------------------------------------------------- 14a. chunked


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        yield b" " * piece
        sent += piece


@pytest.mark.parametrize(
    "path",
    ["/api/v1/alerts", "/api/v1/integrations/alertmanager", "/v2/enqueue", "/api/v1/alerts/1/ack"],
)
def test_chunked_body_over_the_limit_is_413(receiver, path):
    create_alert(receiver)
    response = requests.post(
        f"{receiver.url}{path}",
        data=_chunks(2 * 1024 * 1024),
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "request body too large"
    assert [a.status for a in alerts(receiver)] == ["triggered"]


def test_chunked_body_within_the_limit_is_read_whole(receiver):
    def body() -> Iterator[bytes]:
        yield b'{"summary": "chunked", '
        yield from _chunks(512 * 1024)
        yield json.dumps({"recipients": [NUMBER]}).encode()[1:]

    response = requests.post(
        f"{receiver.url}/api/v1/alerts",
        data=body(),
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 202, response.text


# --------------------------------------------------------------------------- 14b. ack body


@pytest.mark.parametrize("action", ["ack", "resolve"])
def test_malformed_action_body_is_400_and_changes_nothing(receiver, action):
    alert_id = create_alert(receiver)
    for raw in (b"{oops", b'{"by": ', b"\xff\xfe"):
        response = post(receiver, f"/api/v1/alerts/{alert_id}/{action}", raw, headers=AUTH)
        assert response.status_code == 400, (raw, response.text)
    assert (
        post(
            receiver, f"/api/v1/alerts/{alert_id}/{action}", {"by": "\u200b\u001f"}, headers=AUTH
        ).json()["fields"][0]["field"]
        == "by"
    )
    assert status_of(receiver, alert_id) == "triggered"
    assert (
        post(receiver, f"/api/v1/alerts/{alert_id}/{action}", b"", headers=AUTH).status_code == 200
    )
    assert status_of(receiver, alert_id) != "triggered"


# --------------------------------------------------------------------------- 14c. blank summary


@pytest.mark.parametrize(
    "summary",
    ["\u001f\u001c", "\u001d \u001e", "\u200b\u200b", "\u202e", "\u00a0\u3000\u2028", "\x7f\x85"],
)
def test_summary_of_only_invisible_characters_is_422(receiver, summary):
    response = post(receiver, "/api/v1/alerts", {**ALERT, "summary": summary}, headers=AUTH)
    assert response.status_code == 422
    assert [f["field"] for f in response.json()["fields"]] == ["summary"]
    event = pd_event(API_TOKEN)
    event["payload"]["summary"] = summary
    response = post(receiver, "/v2/enqueue", event)
    assert response.status_code == 400
    assert response.json()["errors"] == ["'payload.summary' is missing or blank"]
    assert alerts(receiver) == []


def test_alertmanager_unreadable_summary_falls_back_to_the_alert_name(receiver):
    body = json.loads(am_body())
    body["alerts"][0]["annotations"] = {"summary": "\u200b\u001f", "description": "\u2060"}
    response = post(receiver, "/api/v1/integrations/alertmanager", body, headers=AUTH)
    assert response.status_code == 202, response.text
    stored = {a.dedup_key: a for a in alerts(receiver)}[AM_KEY]
    assert stored.summary == "DatabaseDown on db1:5432"


def test_bus_message_with_unreadable_summary_names_the_field():
    from shared.alerts.formats import FormatError
    from shared.alerts.formats.bus import to_alerts

    with pytest.raises(FormatError) as exc:
        to_alerts({"summary": "\u001f\u200b", "recipients": [NUMBER]})
    assert [f["field"] for f in exc.value.fields] == ["summary"]


# --------------------------------------------------------------------------- 14d. Grafana replay

HMAC_SECRET = "grafana-hmac-secret"


@pytest.fixture
def grafana_signed(
    database_url: str, broker_env: str, tmp_path: Path
) -> Iterator[Callable[..., requests.Response]]:
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
        GRAFANA_HMAC_SECRET=HMAC_SECRET,
    )
    served = ServedApp(create_app(settings, enqueue=enqueue), port)

    def send(headers: dict[str, str], body: bytes) -> requests.Response:
        return post(served, "/api/v1/integrations/grafana", body, headers={**AUTH, **headers})

    yield send
    served.stop()


def test_grafana_signature_without_timestamp_is_refused(grafana_signed):
    body = json.dumps(GRAFANA).encode()
    untimed = {"X-Grafana-Alerting-Signature": grafana_signature(HMAC_SECRET, body)}
    response = grafana_signed(untimed, body)
    assert response.status_code == 401
    assert response.json()["fields"] == [
        {"field": "X-Grafana-Alerting-Signature-Timestamp", "message": "missing timestamp"}
    ]

    stamp = str(int(time.time()))
    timed = {
        "X-Grafana-Alerting-Signature": grafana_signature(HMAC_SECRET, body, stamp),
        "X-Grafana-Alerting-Signature-Timestamp": stamp,
    }
    assert grafana_signed(timed, body).status_code == 202

    old = str(int(time.time()) - 301)
    replayed = {
        "X-Grafana-Alerting-Signature": grafana_signature(HMAC_SECRET, body, old),
        "X-Grafana-Alerting-Signature-Timestamp": old,
    }
    response = grafana_signed(replayed, body)
    assert response.status_code == 401
    assert response.json()["fields"][0]["field"] == "X-Grafana-Alerting-Signature-Timestamp"


def test_grafana_signature_is_checked_over_the_chunked_body_too(grafana_signed):
    body = copy.deepcopy(GRAFANA)
    body["alerts"][0]["fingerprint"] = "0123456789abcdef"
    raw = json.dumps(body).encode()
    stamp = str(int(time.time()))
    headers = {
        "X-Grafana-Alerting-Signature": grafana_signature(HMAC_SECRET, raw, stamp),
        "X-Grafana-Alerting-Signature-Timestamp": stamp,
    }
    assert grafana_signed(headers, iter([raw[:100], raw[100:]])).status_code == 202
