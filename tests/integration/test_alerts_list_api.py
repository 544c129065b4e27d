"""GET /api/v1/alerts and GET /api/v1/alerts/{id}/timeline over real HTTP: what scripts see."""

from __future__ import annotations

import base64

import pytest
import requests

from shared.core.phone import mask

AUTH = {"Authorization": "Bearer token-one"}
NUMBER = "+14155550123"


def trigger(receiver, summary: str, **fields) -> int:
    body = {"summary": summary, "recipients": [NUMBER], **fields}
    response = requests.post(f"{receiver.url}/api/v1/alerts", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def act(receiver, alert_id: int, action: str) -> None:
    response = requests.post(
        f"{receiver.url}/api/v1/alerts/{alert_id}/{action}",
        json={"by": "ops"},
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 200, response.text


def listing(receiver, params=None, headers=AUTH):
    return requests.get(f"{receiver.url}/api/v1/alerts", params=params, headers=headers, timeout=10)


def ids(receiver, params=None) -> list[int]:
    response = listing(receiver, params)
    assert response.status_code == 200, response.text
    return [alert["id"] for alert in response.json()["alerts"]]


def test_open_alerts_by_default_newest_first_and_status_filter(receiver):
    triggered = trigger(receiver, "disk full")
    acknowledged = trigger(receiver, "cpu hot")
    resolved = trigger(receiver, "link down")
    act(receiver, acknowledged, "ack")
    act(receiver, resolved, "resolve")

    assert ids(receiver) == [acknowledged, triggered]
    assert ids(receiver, {"status": "resolved"}) == [resolved]
    assert ids(receiver, {"status": "triggered,resolved"}) == [resolved, triggered]
    assert ids(receiver, [("status", "acknowledged"), ("status", "resolved")]) == [
        resolved,
        acknowledged,
    ]


def test_severity_source_and_label_filters(receiver):
    critical = trigger(
        receiver,
        "a",
        severity="critical",
        source="prometheus",
        labels={"service": "api", "team": "core"},
    )
    warning = trigger(receiver, "b", severity="warning", source="grafana", labels={"service": "db"})
    info = trigger(
        receiver,
        "c",
        severity="info",
        source="prometheus",
        labels={"service": "api", "team": "edge"},
    )

    assert ids(receiver, {"severity": "critical"}) == [critical]
    assert ids(receiver, {"severity": "warning,info"}) == [info, warning]
    assert ids(receiver, {"source": "prometheus"}) == [info, critical]
    assert ids(receiver, {"label": "service=api"}) == [info, critical]
    assert ids(receiver, [("label", "service=api"), ("label", "team=core")]) == [critical]
    assert ids(receiver, {"label": "service=web"}) == []


def test_time_range_filters_on_creation_time(receiver):
    first = trigger(receiver, "first")
    second = trigger(receiver, "second")
    by_id = {a["id"]: a for a in listing(receiver).json()["alerts"]}
    first_at, second_at = by_id[first]["created_at"], by_id[second]["created_at"]
    assert first_at < second_at

    assert ids(receiver, {"since": second_at}) == [second]
    assert ids(receiver, {"until": first_at}) == [first]
    assert ids(receiver, {"since": first_at, "until": second_at}) == [second, first]
    assert ids(receiver, {"since": "2999-01-01T00:00:00Z"}) == []


def test_pagination_walks_every_alert_once(receiver):
    created = [trigger(receiver, f"alert {n}") for n in range(7)]
    seen: list[int] = []
    pages = 0
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = listing(receiver, params).json()
        pages += 1
        seen += [alert["id"] for alert in body["alerts"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(created, reverse=True)


def test_numbers_are_masked(receiver):
    trigger(receiver, "masked", recipients=[NUMBER, "+442079460958"])
    response = listing(receiver)
    assert "4155550123" not in response.text and "2079460958" not in response.text
    (alert,) = response.json()["alerts"]
    assert alert["recipients"] == [mask(NUMBER), mask("+442079460958")]
    assert alert["recipients"][0].endswith("23") and "*" in alert["recipients"][0]


def test_summary_shows_acknowledgement_and_escalation_position(receiver):
    alert_id = trigger(receiver, "acked")
    act(receiver, alert_id, "ack")
    (alert,) = listing(receiver).json()["alerts"]
    assert alert["acknowledged_by"] == "ops" and alert["acknowledged_at"]
    assert alert["resolved_at"] is None
    assert alert["escalation"]["step"] == 0 and alert["escalation"]["state"] == "stopped"


def test_without_a_token_is_401(receiver):
    trigger(receiver, "secret")
    assert listing(receiver, headers={}).status_code == 401
    assert listing(receiver, headers={"Authorization": "Bearer wrong"}).status_code == 401
    alert_id = trigger(receiver, "secret two")
    response = requests.get(f"{receiver.url}/api/v1/alerts/{alert_id}/timeline", timeout=10)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", "open"),
        ("status", ""),
        ("severity", "urgent"),
        ("label", "service"),
        ("label", "=api"),
        ("since", "yesterday"),
        ("until", "2024-13-01T00:00:00Z"),
        ("limit", "0"),
        ("limit", "201"),
        ("limit", "ten"),
        ("cursor", "not-a-cursor"),
        ("cursor", base64.urlsafe_b64encode(b"12x").decode()),
        ("cursor", base64.urlsafe_b64encode(b"99999999999").decode()),
    ],
)
def test_bad_filter_is_422_naming_the_field(receiver, field, value):
    response = listing(receiver, {field: value})
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["fields"]] == [field]


def test_until_before_since_matches_nothing(receiver):
    trigger(receiver, "now")
    params = {"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"}
    assert ids(receiver, params) == []


def test_timeline_is_the_event_log_in_order(receiver):
    alert_id = trigger(receiver, "timeline", dedup_key="t-1")
    trigger(receiver, "timeline", dedup_key="t-1")
    act(receiver, alert_id, "ack")
    act(receiver, alert_id, "resolve")
    response = requests.get(
        f"{receiver.url}/api/v1/alerts/{alert_id}/timeline", headers=AUTH, timeout=10
    )
    assert response.status_code == 200
    entries = response.json()["timeline"]
    kinds = [entry["kind"] for entry in entries]
    assert kinds[0] == "alert.accepted" and kinds[1] == "alert.occurrence"
    assert kinds.index("alert.acknowledged") < kinds.index("alert.resolved")
    assert [entry["id"] for entry in entries] == sorted(entry["id"] for entry in entries)
    view = requests.get(f"{receiver.url}/api/v1/alerts/{alert_id}", headers=AUTH, timeout=10)
    assert entries == view.json()["timeline"]


def test_timeline_of_unknown_alert_is_404(receiver):
    response = requests.get(
        f"{receiver.url}/api/v1/alerts/999999/timeline", headers=AUTH, timeout=10
    )
    assert response.status_code == 404
    assert response.json()["error"] == "no alert 999999"
