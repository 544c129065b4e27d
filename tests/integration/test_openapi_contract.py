"""The served receiver against its own /openapi.json, fuzzed by schemathesis.

Every operation gets generated requests, valid and invalid: no answer may be
a 5xx, every answer must match the document (status, content type, body),
invalid input must be refused and valid input accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.conftest import ServedApp

TOKEN = "contract-token-0001"
# Per operation and mode: 10 keeps the file near a minute; a deeper run sets
# CONTRACT_EXAMPLES (say 200) in the environment.
EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "10"))
# Real numbers in the fictional 555-01xx range: valid E.164 for their country,
# which a regular expression alone cannot describe.
VALID_NUMBERS = [f"+1415555{n:04d}" for n in range(100, 200)] + ["+442079460958"]

schemathesis.openapi.format("e164", st.sampled_from(VALID_NUMBERS))


@pytest.fixture
def contract_receiver(database_url: str, broker_env: str, tmp_path: Path) -> Iterator[ServedApp]:
    """The receiver as deployed without an on-call file: one token for everything."""
    from cli.stack import free_port
    from shared.core.settings import load_settings
    from webhooks.app import create_app
    from worker import enqueue

    port = free_port()
    app_settings = load_settings(
        DATABASE_URL=database_url,
        REDIS_URL=broker_env,
        DATA_DIR=str(tmp_path),
        API_TOKENS=TOKEN,
        INTEGRATION_TOKENS="",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
    )
    served = ServedApp(create_app(app_settings, enqueue=enqueue), port)
    yield served
    served.stop()


def _cases() -> list[object]:
    from webhooks.openapi import PATHS

    cases: list[object] = []
    for path, methods in PATHS.items():
        for method in methods:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                cases.append(
                    pytest.param(path, method, mode, id=f"{method.upper()} {path} {mode.value}")
                )
    return cases


def _authorize_pagerduty(case, mode) -> None:  # type: ignore[no-untyped-def]
    """PagerDuty's credential rides in the body: valid events carry the real routing key."""
    if (
        mode is GenerationMode.POSITIVE
        and case.operation.path in ("/v2/enqueue", "/v2/change/enqueue")
        and isinstance(case.body, dict)
        and "routing_key" in case.body
    ):
        case.body = {**case.body, "routing_key": TOKEN}


def _valid_cursor(case, mode) -> None:  # type: ignore[no-untyped-def]
    """A cursor is only ever one the server gave out: valid requests carry such a one."""
    from shared.alerts.listing import encode_cursor

    if (
        mode is GenerationMode.POSITIVE
        and case.operation.path == "/api/v1/alerts"
        and isinstance(case.query, dict)
        and "cursor" in case.query
    ):
        case.query = {**case.query, "cursor": encode_cursor(1 + len(str(case.query["cursor"])))}


# Bodies checked against more than a schema can say: a notice names the on-call file's
# teams and contacts (this receiver has none), and its window must lie ahead. A body the
# schema allows may be refused with 422 naming the field; every other check still holds.
SEMANTIC_422 = {("/api/v1/notices", "post"), ("/api/v1/notices/{name}", "patch")}


@pytest.mark.parametrize(("path", "method", "mode"), _cases())
def test_receiver_matches_its_openapi_document(contract_receiver, path, method, mode):
    checks = {}
    if (path, method) in SEMANTIC_422:
        accepted = ["2xx", "401", "404", "409", "422"]
        checks = {"positive_data_acceptance": {"expected-statuses": accepted}}
    config = schemathesis.Config.from_dict(
        {
            "auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}}},
            "generation": {"codec": "utf-8"},
            "checks": checks,
        }
    )
    schema = schemathesis.openapi.from_url(f"{contract_receiver.url}/openapi.json", config=config)
    operation = schema[path][method.upper()]
    if mode is GenerationMode.NEGATIVE and not (
        operation.body or operation.path_parameters or operation.query
    ):
        pytest.skip("nothing to make invalid: no parameters, no body")

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def conforms(case) -> None:  # type: ignore[no-untyped-def]
        _authorize_pagerduty(case, mode)
        _valid_cursor(case, mode)
        case.call_and_validate(timeout=10)

    conforms()


# --------------------------------------------------------------------------- the document itself

COMPONENTS = "#/components/schemas/"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
# The schemas the document has always named: clients generated from it refer to them.
NAMED_SCHEMAS = {
    "Error",
    "AlertIn",
    "AlertAccepted",
    "AlertView",
    "AlertSummary",
    "AlertList",
    "Timeline",
    "ActionBy",
    "LifecycleResult",
    "WebhookAlert",
    "AlertmanagerWebhook",
    "GrafanaAlert",
    "GrafanaWebhook",
    "IntegrationAccepted",
    "PagerDutyPayload",
    "PagerDutyEvent",
    "PagerDutyAccepted",
    "PagerDutyInvalid",
    "Health",
}


def _refs(value: object) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


@pytest.mark.parametrize("with_config_file", [False, True])
def test_document_is_valid_openapi_with_valid_schemas_and_no_dangling_reference(
    with_config_file, tmp_path
):
    import jsonschema_rs

    from shared.core.settings import load_settings
    from webhooks.openapi import document_for

    config_file = tmp_path / "oncall.yaml"
    config_file.write_text("policies: {}\n")
    document = document_for(load_settings(CONFIG_FILE=config_file if with_config_file else None))
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        jsonschema_rs.meta.validate({"$schema": DIALECT, **schema})
    assert NAMED_SCHEMAS - set(schemas) == set()
    references = set(_refs(document))
    assert {ref for ref in references if not ref.startswith(COMPONENTS)} == set()
    assert {ref.removeprefix(COMPONENTS) for ref in references} - set(schemas) == set()
    recipients = schemas["AlertIn"]["properties"]["recipients"]
    assert recipients["items"]["format"] == "e164"
    assert ("anyOf" in schemas["AlertIn"]) is not with_config_file


def test_visible_text_pattern_matches_exactly_the_characters_the_server_reads_as_visible():
    import re

    from shared.alerts.schemas import has_visible_text
    from webhooks.openapi_components import visible_pattern

    pattern = re.compile(visible_pattern())
    disagree = [
        hex(point)
        for point in range(1, 0x10000)
        if not 0xD800 <= point < 0xE000
        and bool(pattern.fullmatch(chr(point))) is not has_visible_text(chr(point))
    ]
    assert disagree == []


def test_answers_about_a_paged_and_acknowledged_alert_match_the_document(
    contract_receiver, database_url
):
    """The fuzzed run sees an empty database; here the answers carry an alert, a
    notification and a timeline, each checked against its generated schema."""
    from shared.core.db import session_scope
    from shared.core.models import Notification
    from shared.core.phone import mask

    schema = schemathesis.openapi.from_url(f"{contract_receiver.url}/openapi.json")
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def call(path: str, method: str, **parts):  # type: ignore[no-untyped-def]
        case = schema[path][method].Case(headers=auth, **parts)
        response = case.call(timeout=10)
        case.validate_response(response)
        return response

    number = VALID_NUMBERS[0]
    body = {"summary": "disk full", "dedup_key": "disk", "labels": {"team": "db"}}
    created = call("/api/v1/alerts", "POST", body={**body, "recipients": [number]})
    alert_id = created.json()["id"]
    assert created.status_code == 202
    with session_scope(database_url) as session:
        session.add(Notification(alert_id=alert_id, channel="sms", destination=number))
    acked = call("/api/v1/alerts/{alert_id}/ack", "POST", path_parameters={"alert_id": alert_id})
    assert acked.json()["cancelled_notifications"] == 1
    listed = call("/api/v1/alerts", "GET", query={"status": "acknowledged"})
    assert [alert["id"] for alert in listed.json()["alerts"]] == [alert_id]
    view = call("/api/v1/alerts/{alert_id}", "GET", path_parameters={"alert_id": alert_id})
    assert [n["to"] for n in view.json()["notifications"]] == [mask(number)]
    timeline = call(
        "/api/v1/alerts/{alert_id}/timeline", "GET", path_parameters={"alert_id": alert_id}
    )
    assert len(timeline.json()["timeline"]) >= 2
    resolved = call("/api/v1/alerts", "POST", body={**body, "action": "resolve"})
    assert resolved.json() == {"id": alert_id, "status": "resolved", "queued": False}
