"""POST /api/v1/alerts over real HTTP: what producers see."""

import json
import logging

import pytest
import requests
from sqlalchemy import func, select

from shared.core.db import session_scope
from shared.core.models import Alert

AUTH = {"Authorization": "Bearer token-two"}
GOOD = {
    "summary": "Primary database unreachable",
    "severity": "critical",
    "source": "prometheus",
    "dedup_key": "db-down",
    "details": {"host": "db1"},
    "recipients": ["+14155550101"],
}


def post(receiver, body=None, *, data=None, headers=AUTH):
    return requests.post(
        f"{receiver.url}/api/v1/alerts",
        json=body,
        data=data,
        headers={**headers, **({"Content-Type": "application/json"} if data else {})},
        timeout=10,
    )


def alert_count(receiver):
    with session_scope(receiver.settings.effective_database_url) as session:
        return session.scalar(select(func.count()).select_from(Alert))


def test_valid_alert_is_stored_and_answered_202_with_its_id(receiver):
    response = post(receiver, GOOD)
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "created" and body["queued"] is True
    with session_scope(receiver.settings.effective_database_url) as session:
        alert = session.get(Alert, body["id"])
        assert alert.summary == GOOD["summary"] and alert.recipients == ["+14155550101"]


def test_same_dedup_key_joins_the_open_alert(receiver):
    first = post(receiver, GOOD).json()
    second = post(receiver, GOOD).json()
    assert second == {"id": first["id"], "status": "deduplicated", "queued": False}
    assert alert_count(receiver) == 1


def test_malformed_json_is_400(receiver):
    response = post(receiver, data=b'{"summary": ')
    assert response.status_code == 400
    assert response.json()["error"] == "body is not valid JSON"


def test_missing_and_wrong_fields_are_422_naming_each(receiver):
    response = post(receiver, {"severity": "apocalyptic", "recipients": ["+14155550101"]})
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["fields"]}
    assert fields == {"summary", "severity"}
    assert alert_count(receiver) == 0


@pytest.mark.parametrize("number", ["4155550101", "+1415555", "+999123", "call me"])
def test_number_that_is_not_e164_is_422(receiver, number):
    response = post(receiver, {**GOOD, "recipients": [number]})
    assert response.status_code == 422
    assert response.json()["fields"][0]["field"] == "recipients.0"


def test_no_recipients_is_422(receiver):
    response = post(receiver, {**GOOD, "recipients": []})
    assert response.status_code == 422
    [field] = response.json()["fields"]
    assert field["field"] == "recipients"
    assert field["message"].startswith("at least one is required")


def test_body_that_is_not_an_object_is_422(receiver):
    assert post(receiver, data=b"[1, 2]").status_code == 422


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic token-one"}],
)
def test_missing_or_wrong_token_is_401(receiver, headers):
    assert post(receiver, GOOD, headers=headers).status_code == 401
    assert alert_count(receiver) == 0


def test_body_over_one_mib_is_413(receiver):
    big = {**GOOD, "details": {"blob": "x" * (1024 * 1024)}}
    response = post(receiver, data=json.dumps(big).encode())
    assert response.status_code == 413
    assert alert_count(receiver) == 0


def test_unknown_route_and_method_answer_json(receiver):
    assert requests.get(f"{receiver.url}/nope", timeout=5).json()["status"] == 404
    assert requests.delete(f"{receiver.url}/api/v1/alerts", timeout=5).status_code == 405


def test_alert_view_shows_timeline(receiver):
    alert_id = post(receiver, GOOD).json()["id"]
    view = requests.get(f"{receiver.url}/api/v1/alerts/{alert_id}", headers=AUTH, timeout=5)
    assert view.status_code == 200
    assert view.json()["timeline"][0]["kind"] == "alert.accepted"
    missing = requests.get(f"{receiver.url}/api/v1/alerts/999999", headers=AUTH, timeout=5)
    assert missing.status_code == 404


def test_healthz_checks_database_and_redis(receiver):
    response = requests.get(f"{receiver.url}/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_nan_is_not_json(receiver):
    response = post(receiver, data=b'{"summary": "x", "details": {"load": NaN}}')
    assert response.status_code == 400


def test_nul_in_text_is_stored_visibly_replaced(receiver):
    response = post(receiver, {**GOOD, "summary": "disk\x00full", "labels": {"a\x00": "b\x00"}})
    assert response.status_code == 202
    with session_scope(receiver.settings.effective_database_url) as session:
        alert = session.get(Alert, response.json()["id"])
        assert alert.summary == "disk\ufffdfull" and alert.labels == {"a\ufffd": "b\ufffd"}


def test_alert_id_beyond_the_database_range_is_404(receiver):
    huge = 2**40
    assert (
        requests.get(f"{receiver.url}/api/v1/alerts/{huge}", headers=AUTH, timeout=5).status_code
        == 404
    )
    assert (
        requests.post(
            f"{receiver.url}/api/v1/alerts/{huge}/ack", headers=AUTH, timeout=5
        ).status_code
        == 404
    )


def test_a_body_of_many_alerts_is_one_log_line_naming_each_alert(receiver, caplog):
    """A group of alerts is one INFO line naming every alert it stored (a line per alert
    was most of a large body's time in the receiver); each alert's own line is DEBUG."""
    from tests.conftest import FIXTURES

    body = (FIXTURES / "alertmanager" / "webhook-firing.json").read_bytes()
    caplog.set_level(logging.DEBUG, logger="webhooks.ingest")
    response = requests.post(
        f"{receiver.url}/api/v1/integrations/alertmanager",
        data=body,
        headers={**AUTH, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    ids = [str(a["id"]) for a in response.json()["alerts"]]
    assert len(ids) == 2
    records = [r for r in caplog.records if r.name == "webhooks.ingest"]
    [summary] = [r.getMessage() for r in records if r.levelno == logging.INFO]
    assert summary == f"2 alert events via alertmanager: created (alerts {', '.join(ids)})"
    assert sum(r.levelno == logging.DEBUG for r in records) == 2
