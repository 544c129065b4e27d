"""Producer formats to alerts: pure conversions, no server."""

from __future__ import annotations

import json
import time

import pytest

from shared.alerts.formats import FormatError, alertmanager, bounded_key, bus, grafana, pagerduty
from shared.alerts.integration_auth import (
    IntegrationConfigError,
    credential_for,
    grafana_signature,
    parse_integration_tokens,
    token_matches,
    verify_grafana_signature,
)
from shared.alerts.schemas import AlertAction, Severity
from shared.core.settings import load_settings
from tests.conftest import FIXTURES

AM = FIXTURES / "alertmanager"


def am_body(name: str) -> dict:
    return json.loads((AM / f"{name}.json").read_text())


def fields_of(exc: pytest.ExceptionInfo[FormatError]) -> set[str]:
    return {f["field"] for f in exc.value.fields}


# --------------------------------------------------------------------------- Alertmanager


def test_alertmanager_firing_group_is_one_trigger_per_alert_with_labels_and_annotations():
    first, second = alertmanager.to_alerts(am_body("webhook-firing"))
    assert first.action is AlertAction.TRIGGER and second.action is AlertAction.TRIGGER
    assert first.dedup_key == "alertmanager:dispatch:4a03254b5362f7f9"
    assert second.dedup_key == "alertmanager:dispatch:f21955e0e26d8b8a"
    assert first.summary == "Primary database unreachable"
    assert first.severity is Severity.CRITICAL and first.source == "alertmanager"
    assert first.labels == {
        "alertname": "DatabaseDown",
        "instance": "db1:5432",
        "service": "db-cluster-1",
        "severity": "critical",
    }
    assert first.details["annotations"] == {
        "description": "db1 has not answered for 2 minutes",
        "summary": "Primary database unreachable",
    }
    assert first.details["generatorURL"] == "http://prometheus.local/graph?g0.expr=up%3D%3D0"
    group_key = '{}:{alertname="DatabaseDown", service="db-cluster-1"}'
    assert first.details["group"]["groupKey"] == group_key


def test_alertmanager_resolved_alert_resolves_and_firing_one_still_triggers():
    resolved, firing = alertmanager.to_alerts(am_body("webhook-resolved-and-firing"))
    assert resolved.action is AlertAction.RESOLVE
    assert resolved.dedup_key == "alertmanager:dispatch:4a03254b5362f7f9"
    assert firing.action is AlertAction.TRIGGER


def test_alertmanager_summary_falls_back_to_alertname_and_instance():
    body = am_body("webhook-firing")
    body["alerts"][0]["annotations"] = {}
    assert alertmanager.to_alerts(body)[0].summary == "DatabaseDown on db1:5432"


def test_alertmanager_without_severity_label_pages_as_error():
    body = am_body("webhook-firing")
    del body["alerts"][0]["labels"]["severity"]
    assert alertmanager.to_alerts(body)[0].severity is Severity.ERROR


def test_alertmanager_incomplete_body_names_every_field():
    body = am_body("webhook-firing")
    del body["version"]
    del body["alerts"][1]["fingerprint"]
    body["alerts"][0]["status"] = "exploded"
    with pytest.raises(FormatError) as exc:
        alertmanager.to_alerts(body)
    assert fields_of(exc) == {"version", "alerts.1.fingerprint", "alerts.0.status"}


def test_alertmanager_other_payload_version_is_refused():
    with pytest.raises(FormatError) as exc:
        alertmanager.to_alerts({**am_body("webhook-firing"), "version": "3"})
    assert fields_of(exc) == {"version"}


def test_alertmanager_empty_group_is_refused():
    with pytest.raises(FormatError) as exc:
        alertmanager.to_alerts({**am_body("webhook-firing"), "alerts": []})
    assert fields_of(exc) == {"alerts"}


def test_long_keys_stay_within_255_characters_and_apart():
    first = bounded_key("alertmanager", "r" * 300, "a")
    second = bounded_key("alertmanager", "r" * 300, "b")
    assert len(first) == len(second) == 255 and first != second


@pytest.mark.parametrize(
    ("word", "severity"),
    [
        ("critical", Severity.CRITICAL),
        ("PAGE", Severity.CRITICAL),
        (" P1 ", Severity.CRITICAL),
        ("error", Severity.ERROR),
        ("high", Severity.ERROR),
        ("warning", Severity.WARNING),
        ("warn", Severity.WARNING),
        ("minor", Severity.WARNING),
        ("info", Severity.INFO),
        ("none", Severity.INFO),
        ("whatever", Severity.ERROR),
    ],
)
def test_severity_words_map_onto_ours(word, severity):
    body = am_body("webhook-firing")
    body["alerts"][0]["labels"]["severity"] = word
    assert alertmanager.to_alerts(body)[0].severity is severity


# --------------------------------------------------------------------------- Grafana

GRAFANA = {
    "receiver": "dispatch-webhook",
    "status": "firing",
    "orgId": 1,
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighMemory",
                "grafana_folder": "Infra",
                "team": "db",
                "severity": "warning",
            },
            "annotations": {"summary": "Memory above 90% on db1", "runbook_url": "https://rb"},
            "startsAt": "2026-11-27T02:57:28.821+01:00",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://grafana.local/alerting/grafana/abc/view",
            "fingerprint": "c6eadffa33fcdf37",
            "silenceURL": "https://grafana.local/alerting/silence/new",
            "dashboardURL": "https://grafana.local/d/xyz",
            "panelURL": "https://grafana.local/d/xyz?viewPanel=2",
            "values": {"B": 91.5, "C": 1},
            "valueString": "[ var='B' labels={instance=db1} value=91.5 ]",
        }
    ],
    "groupLabels": {"alertname": "HighMemory"},
    "commonLabels": {"alertname": "HighMemory", "team": "db"},
    "commonAnnotations": {},
    "externalURL": "https://grafana.local/",
    "version": "1",
    "groupKey": '{}:{alertname="HighMemory"}',
    "truncatedAlerts": 0,
    "title": "[FIRING:1] HighMemory (Infra db)",
    "state": "alerting",
    "message": "**Firing**",
}


def test_grafana_alert_keeps_labels_values_and_links():
    [alert] = grafana.to_alerts(GRAFANA)
    assert alert.dedup_key == "grafana:1:dispatch-webhook:c6eadffa33fcdf37"
    assert alert.source == "grafana" and alert.severity is Severity.WARNING
    assert alert.summary == "Memory above 90% on db1"
    assert alert.labels["grafana_folder"] == "Infra"
    assert alert.details["values"] == {"B": 91.5, "C": 1}
    assert alert.details["dashboardURL"] == "https://grafana.local/d/xyz"
    assert alert.details["group"]["title"] == "[FIRING:1] HighMemory (Infra db)"


def test_grafana_resolved_resolves():
    body = json.loads(json.dumps(GRAFANA))
    body["alerts"][0]["status"] = "resolved"
    assert grafana.to_alerts(body)[0].action is AlertAction.RESOLVE


def test_grafana_wrong_version_and_missing_labels_are_named():
    body = json.loads(json.dumps(GRAFANA))
    body["version"] = "4"
    del body["alerts"][0]["labels"]
    with pytest.raises(FormatError) as exc:
        grafana.to_alerts(body)
    assert fields_of(exc) == {"version", "alerts.0.labels"}


# --------------------------------------------------------------------------- PagerDuty

PD_TRIGGER = {
    "routing_key": "pd-key",
    "event_action": "trigger",
    "dedup_key": "db1-disk",
    "payload": {
        "summary": "Disk full on db1",
        "source": "db1.example.com",
        "severity": "error",
        "component": "postgres",
        "group": "prod-db",
        "class": "disk",
        "custom_details": {"free": "0 B"},
    },
    "links": [{"href": "https://runbook", "text": "runbook"}],
    "client": "Monitoring",
}


def test_pagerduty_trigger_maps_payload_to_summary_severity_labels_details():
    [alert] = pagerduty.to_alerts(PD_TRIGGER)
    assert alert.action is AlertAction.TRIGGER and alert.dedup_key == "db1-disk"
    assert alert.summary == "Disk full on db1" and alert.severity is Severity.ERROR
    assert alert.source == "pagerduty"
    assert alert.labels == {
        "source": "db1.example.com",
        "component": "postgres",
        "group": "prod-db",
        "class": "disk",
    }
    assert alert.details["custom_details"] == {"free": "0 B"}
    assert alert.details["links"] == PD_TRIGGER["links"]


def test_pagerduty_trigger_without_key_gets_a_new_one():
    body = {k: v for k, v in PD_TRIGGER.items() if k != "dedup_key"}
    [alert] = pagerduty.to_alerts(body, new_key=lambda: "generated-1")
    assert alert.dedup_key == "generated-1"


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_pagerduty_acknowledge_and_resolve_need_only_the_key(action):
    [alert] = pagerduty.to_alerts({"routing_key": "k", "event_action": action, "dedup_key": "x"})
    assert alert.action is AlertAction(action) and alert.dedup_key == "x"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (
            {"payload": {**PD_TRIGGER["payload"], "summary": " "}},
            "'payload.summary' is missing or blank",
        ),
        ({"payload": None}, "'payload' is missing or blank (required to trigger)"),
        (
            {"event_action": "resolve", "dedup_key": None},
            "'dedup_key' is missing or blank (required to resolve)",
        ),
        ({"routing_key": ""}, "'routing_key' is missing or blank"),
        (
            {"event_action": "escalate"},
            "'event_action' is invalid (must be one of the following: "
            "'trigger', 'acknowledge' or 'resolve')",
        ),
        (
            {"payload": {**PD_TRIGGER["payload"], "severity": "bad"}},
            "'payload.severity' is invalid (must be one of the following: "
            "'critical', 'error', 'warning' or 'info')",
        ),
        ({"dedup_key": "k" * 256}, "'dedup_key' is too long (maximum 255 characters)"),
    ],
)
def test_pagerduty_errors_are_worded_like_pagerduty(change, error):
    with pytest.raises(FormatError) as exc:
        pagerduty.to_alerts({**PD_TRIGGER, **change})
    assert error in pagerduty.error_strings(exc.value)


# --------------------------------------------------------------------------- event bus


def envelope(**changes):
    return {
        "event_type": "db.health",
        "timestamp": "2026-11-27T02:57:28Z",
        "entity_type": "database",
        "entity_id": "db1",
        "status": "down",
        "data": {"region": "eu-1"},
        "tracking_id": "trk-1",
        **changes,
    }


def test_bus_envelope_trigger_and_resolve_share_one_key():
    [down] = bus.to_alerts(envelope(), channel="if.bus:infra:db1")
    [up] = bus.to_alerts(envelope(status="up"), channel="if.bus:infra:db1")
    assert down.action is AlertAction.TRIGGER and up.action is AlertAction.RESOLVE
    assert down.dedup_key == up.dedup_key == "if.bus:database:db1:db.health"
    assert down.severity is Severity.CRITICAL
    assert down.summary == "database db1: db.health (down)"
    assert down.labels == {
        "domain": "infra",
        "entity": "db1",
        "channel": "if.bus:infra:db1",
        "entity_type": "database",
        "entity_id": "db1",
        "event_type": "db.health",
    }
    assert down.details["tracking_id"] == "trk-1" and down.details["data"] == {"region": "eu-1"}


def test_bus_event_type_suffix_decides_when_status_does_not():
    [triggered] = bus.to_alerts(envelope(event_type="backup.failed.triggered", status=None))
    [resolved] = bus.to_alerts(envelope(event_type="backup.failed.resolved", status=None))
    assert triggered.action is AlertAction.TRIGGER and resolved.action is AlertAction.RESOLVE
    assert triggered.dedup_key == resolved.dedup_key == "if.bus:database:db1:backup.failed"


def test_bus_data_overrides_summary_severity_key_action_and_adds_labels():
    [alert] = bus.to_alerts(
        envelope(
            data={
                "summary": "Replication lag 5 min",
                "severity": "warning",
                "dedup_key": "lag-db1",
                "action": "acknowledge",
                "labels": {"team": "db", "shard": 3},
                "recipients": ["+14155550101"],
            }
        )
    )
    assert (alert.summary, alert.severity, alert.dedup_key, alert.action) == (
        "Replication lag 5 min",
        Severity.WARNING,
        "lag-db1",
        AlertAction.ACKNOWLEDGE,
    )
    assert alert.labels["team"] == "db" and alert.labels["shard"] == "3"
    assert alert.recipients == ["+14155550101"]


def test_bus_numeric_ids_are_names():
    [alert] = bus.to_alerts(envelope(entity_id=42, timestamp=1764212248))
    assert alert.labels["entity_id"] == "42"


def test_bus_envelope_missing_fields_are_named():
    with pytest.raises(FormatError) as exc:
        bus.to_alerts({"event_type": "x", "data": []})
    assert fields_of(exc) == {"entity_type", "entity_id", "data"}


def test_bus_bad_recipient_is_named_under_data():
    with pytest.raises(FormatError) as exc:
        bus.to_alerts(envelope(data={"recipients": ["call me"]}))
    assert fields_of(exc) == {"data.recipients.0"}


def test_bus_native_alert_defaults_source_to_bus():
    [alert] = bus.to_alerts({"summary": "queue stuck", "severity": "info"})
    assert alert.source == "bus" and alert.severity is Severity.INFO


def test_bus_native_alert_with_unknown_field_is_refused():
    with pytest.raises(FormatError) as exc:
        bus.to_alerts({"summary": "x", "colour": "red"})
    assert fields_of(exc) == {"colour"}


def test_stream_entry_event_field_or_flat_fields():
    as_json = bus.decode_stream_fields({"event": json.dumps(envelope())})
    assert as_json["entity_id"] == "db1"
    flat = bus.decode_stream_fields(
        {"summary": "disk full", "labels": '{"team": "db"}', "recipients": '["+14155550101"]'}
    )
    [alert] = bus.to_alerts(flat)
    assert alert.labels == {"team": "db"} and alert.recipients == ["+14155550101"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"event": "{not json"}, "field event is not valid JSON"),
        ({"event": "[1, 2]"}, "field event must be a JSON object"),
        ({"event": "{}", "other": "x"}, "stream entry with an event field must have no other"),
        ({"summary": "x", "labels": "{oops"}, "field labels is not valid JSON"),
        ({}, "stream entry is empty"),
    ],
)
def test_unusable_stream_entries_say_why(fields, message):
    with pytest.raises(FormatError) as exc:
        bus.decode_stream_fields(fields)
    assert str(exc.value).startswith(message)


def test_channel_message_must_be_a_json_object():
    with pytest.raises(FormatError, match="message is not valid JSON"):
        bus.decode_json_object(b"\xff\xfe")
    with pytest.raises(FormatError, match="must be a JSON object"):
        bus.decode_json_object("42")


# --------------------------------------------------------------------------- integration auth


def test_integration_tokens_parse_with_repeats():
    assert parse_integration_tokens(" alertmanager=a, grafana=b,grafana=c ,") == {
        "alertmanager": ("a",),
        "grafana": ("b", "c"),
    }


@pytest.mark.parametrize("raw", ["grafna=x", "alertmanager", "pagerduty="])
def test_malformed_integration_tokens_name_the_entry_not_the_token(raw):
    with pytest.raises(IntegrationConfigError) as exc:
        parse_integration_tokens(f"grafana=secret-one,{raw}")
    assert "entry 2" in str(exc.value) and "secret-one" not in str(exc.value)


def test_integration_without_own_token_falls_back_to_api_tokens():
    settings = load_settings(API_TOKENS="api-1,api-2", INTEGRATION_TOKENS="grafana=g")
    assert credential_for(settings, "grafana").tokens == ("g",)
    assert credential_for(settings, "alertmanager").tokens == ("api-1", "api-2")
    assert credential_for(settings, "grafana").scope == "grafana"
    assert credential_for(settings, "alertmanager").scope == "api"


def test_token_matches_exactly():
    assert token_matches("b", ["a", "b"])
    assert not token_matches("b ", ["a", "b"]) and not token_matches("", [""])


def test_grafana_signature_over_timestamp_and_body_only():
    body = b'{"receiver": "x"}'
    now = time.time()
    stamp = str(int(now))
    timed = grafana_signature("s3cret", body, stamp)
    assert verify_grafana_signature("s3cret", body, timed, stamp, now=now).ok
    assert verify_grafana_signature("s3cret", body, "sha256=" + timed.upper(), stamp, now=now).ok
    plain = grafana_signature("s3cret", body)
    assert not verify_grafana_signature("s3cret", body, plain, stamp, now=now).ok
    # A signature over the body alone never expires: it could be replayed for ever.
    untimed = verify_grafana_signature("s3cret", body, plain, now=now)
    assert (untimed.ok, untimed.reason, untimed.header) == (
        False,
        "missing timestamp",
        "X-Grafana-Alerting-Signature-Timestamp",
    )


@pytest.mark.parametrize(
    ("signature", "timestamp", "reason"),
    [
        (None, None, "missing signature"),
        ("00" * 32, None, "missing timestamp"),
        ("00" * 32, " ", "missing timestamp"),
        ("00" * 32, "1000000000", "signature does not match"),
        ("sig", "yesterday", "timestamp is not Unix seconds"),
        ("sig", "nan", "timestamp is not Unix seconds"),
        ("sig", "1000", "timestamp outside the allowed window"),
        ("sig", "1000000301", "timestamp outside the allowed window"),
    ],
)
def test_grafana_signature_refusals_say_why(signature, timestamp, reason):
    check = verify_grafana_signature("s3cret", b"{}", signature, timestamp, now=1_000_000_000.0)
    assert not check.ok and check.reason == reason
