"""The served receiver against its own /openapi.json, fuzzed by schemathesis.

Every operation gets generated requests, valid and invalid: no answer may be
a 5xx, every answer must match the document (status, content type, body),
invalid input must be refused and valid input accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.conftest import ServedApp

TOKEN = "contract-token-0001"
EXAMPLES = 25  # per operation and mode: the whole run stays well under a minute
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
        and case.operation.path == "/v2/enqueue"
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


@pytest.mark.parametrize(("path", "method", "mode"), _cases())
def test_receiver_matches_its_openapi_document(contract_receiver, path, method, mode):
    config = schemathesis.Config.from_dict(
        {
            "auth": {"openapi": {"bearerAuth": {"bearer": TOKEN}}},
            "generation": {"codec": "utf-8"},
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
