"""GET /openapi.json: the OpenAPI 3.1 description of every endpoint producers and operators use.

Generated, not restated: the schemas come from the pydantic models that validate
the requests and describe the answers (`webhooks.openapi_components`), the paths
are written out where no model holds them (`webhooks.openapi_paths`). This module
puts the two together and adds the few rules a model's validator code carries that
pydantic cannot see. The contract test (tests/integration/test_openapi_contract.py) fuzzes the
served receiver against the result.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from shared.alerts.schemas import AlertAction
from shared.core.settings import Settings
from webhooks.openapi_components import component_schemas
from webhooks.openapi_notices import patch_schemas as patch_notice_schemas
from webhooks.openapi_paths import PATHS

__all__ = ["PATHS", "bp", "document", "document_for"]

bp = Blueprint("openapi", __name__)

_LIFECYCLE_ACTIONS = [AlertAction.ACKNOWLEDGE.value, AlertAction.RESOLVE.value]

# `PagerDutyEvent._needed_for_action` (a model validator: code, not schema) as JSON Schema.
PAGERDUTY_EVENT = {
    "description": "A PagerDuty Events API v2 alert event. `payload` is required to "
    "trigger, `dedup_key` to acknowledge or resolve.",
    "anyOf": [
        {
            "properties": {
                "event_action": {"enum": [AlertAction.TRIGGER.value]},
                "payload": {"type": "object"},
            },
            "required": ["payload"],
        },
        {
            "properties": {
                "event_action": {"enum": _LIFECYCLE_ACTIONS},
                "dedup_key": {"type": "string"},
            },
            "required": ["dedup_key"],
        },
    ],
}
ROUTING_KEY = (
    "One of the pagerduty tokens (INTEGRATION_TOKENS), else API_TOKENS, exactly; the header "
    "X-Routing-Key is read when the body has none."
)


def _schemas() -> dict[str, Any]:
    """The generated components, with what the models' validator code adds."""
    schemas = component_schemas()
    event = schemas["PagerDutyEvent"]
    event.update(PAGERDUTY_EVENT)
    event["properties"]["routing_key"]["description"] = ROUTING_KEY
    # The change endpoint reads its routing key before the model sees the body.
    change = schemas["PagerDutyChangeEvent"]
    change["properties"] = {
        "routing_key": {"type": "string", "minLength": 1, "description": ROUTING_KEY},
        **change["properties"],
    }
    change["required"] = ["routing_key", *change.get("required", [])]
    patch_notice_schemas(schemas)
    return schemas


@lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    """The document, built at the first request for it (not when a process starts:
    generating the schemas takes a few tenths of a second); never changed once built."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "alert-dispatch",
            "version": "1",
            "description": "On-call paging over SMS and voice. Producers post alerts here; "
            "docs/producers.md maps each format. Every 2xx means the alert is stored; paging "
            "happens in the workers.",
        },
        "paths": PATHS,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API_TOKENS for /api/v1/alerts and /api/v1/notices; each "
                    "integration's token from INTEGRATION_TOKENS (falling back to API_TOKENS) "
                    "for the integrations.",
                }
            },
        },
    }


def document_for(settings: Settings) -> dict[str, Any]:
    """The document as this receiver is configured.

    Without an on-call configuration (CONFIG_FILE) nothing routes a new alert,
    so a trigger must name its recipients (`webhooks.ingest.require_route_or_recipients`);
    acknowledge and resolve need none.
    """
    built = copy.deepcopy(document())
    if settings.config_file is None:
        alert_in = built["components"]["schemas"]["AlertIn"]
        alert_in["anyOf"] = [
            {"required": ["recipients"], "properties": {"recipients": {"minItems": 1}}},
            {"required": ["action"], "properties": {"action": {"enum": _LIFECYCLE_ACTIONS}}},
        ]
        alert_in["properties"]["recipients"]["description"] = (
            "Required to trigger while no on-call configuration (CONFIG_FILE) routes alerts."
        )
    return built


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document_for(current_app.config["SETTINGS"]))
