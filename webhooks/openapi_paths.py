"""The paths of /openapi.json: routes, parameters, status codes and what each means.

This is the part no model holds, so it is written out, next to the code it
describes; every body it names is a generated component
(`webhooks.openapi_components`). The contract test (tests/integration/test_openapi_contract.py)
fuzzes the served receiver against the document, so the two cannot drift apart
silently. Plivo's callbacks are left out: Plivo, not a producer, calls them, signed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.alerts.formats.alertmanager import AlertmanagerWebhook
from shared.alerts.formats.grafana import GrafanaWebhook
from shared.alerts.formats.pagerduty import PagerDutyEvent
from shared.alerts.formats.pagerduty_change import PagerDutyChangeEvent
from shared.alerts.listing import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, OPEN, SEVERITIES, STATUSES
from shared.alerts.schemas import AlertIn
from shared.core.strict_json import MAX_DEPTH
from webhooks import api_models as m
from webhooks.openapi_components import ref
from webhooks.openapi_notices import PATHS as NOTICE_PATHS
from webhooks.openapi_oncall import PATHS as ONCALL_PATHS
from webhooks.openapi_subscribers import PATHS as SUBSCRIBER_PATHS

BEARER = [{"bearerAuth": []}]


def _body(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": ref(model)}}}


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ref(model)}}}


ALERT_ID = {
    "name": "alert_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
BAD_JSON = _json(
    m.Error,
    f"The body is not valid JSON, nests deeper than {MAX_DEPTH} levels, or holds a number "
    "that is not finite (NaN, Infinity, 1e400) or a lone UTF-16 surrogate.",
)
UNAUTHORIZED = _json(m.Error, "Missing or wrong bearer token.")
TOO_LARGE = _json(m.Error, "The body is larger than MAX_BODY_BYTES.")
INVALID = _json(
    m.Error, "The body is not an object, or fields are missing or wrong: each is named."
)
NOT_FOUND = _json(m.Error, "No alert with that id.")
UNAVAILABLE = _json(m.Error, "The database is unreachable: nothing was stored; retry later.")

GRAFANA_HEADERS = [
    {
        "name": "X-Grafana-Alerting-Signature",
        "in": "header",
        "required": False,
        "description": "Hex HMAC-SHA256 of `timestamp:body` with GRAFANA_HMAC_SECRET; "
        "required when that secret is set.",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Grafana-Alerting-Signature-Timestamp",
        "in": "header",
        "required": False,
        "description": "Unix seconds, signed with the body, at most 5 minutes off; required "
        "when GRAFANA_HMAC_SECRET is set, so a captured request cannot be replayed later "
        "(X-Grafana-Alerting-Timestamp is read too).",
        "schema": {"type": "string"},
    },
]


def _query(name: str, schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
        **extra,
    }


def _enum_list(values: tuple[str, ...]) -> dict[str, Any]:
    return {
        "type": "array",
        "minItems": 1,
        "items": {"type": "string", "enum": [str(v) for v in values]},
    }


# Read by `shared.alerts.listing.parse_filter`, which has no model: its words are the limits.
LIST_PARAMETERS = [
    _query(
        "status",
        _enum_list(STATUSES),
        f"Default: {','.join(OPEN)} (the open ones).",
        style="form",
        explode=False,
    ),
    _query("severity", _enum_list(SEVERITIES), "Any of these.", style="form", explode=False),
    _query("source", {"type": "string"}, "Exactly this source."),
    _query(
        "label",
        {"type": "array", "items": {"type": "string", "pattern": '^[^="]+='}},
        "name=value; repeat for several, all must match.",
        style="form",
        explode=True,
    ),
    _query(
        "since",
        {"type": "string", "format": "date-time"},
        "Created at or after (ISO 8601; without an offset, UTC).",
    ),
    _query(
        "until",
        {"type": "string", "format": "date-time"},
        "Created at or before (before `since`: nothing matches).",
    ),
    _query(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        "Alerts per page.",
    ),
    _query("cursor", {"type": "string"}, "`next_cursor` of the page before."),
]


def _webhook_operation(
    summary: str, body: type[BaseModel], extra_parameters: list[Any]
) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": BEARER,
        "parameters": extra_parameters,
        "requestBody": _body(body),
        "responses": {
            "202": _json(m.IntegrationAccepted, "Every alert of the group stored."),
            "400": BAD_JSON,
            "401": _json(m.Error, "Missing or wrong bearer token, or (Grafana) signature."),
            "413": TOO_LARGE,
            "422": INVALID,
            "503": UNAVAILABLE,
        },
    }


def _lifecycle_operation(word: str) -> dict[str, Any]:
    return {
        "post": {
            "summary": f"{word} an alert: paging for it stops at once",
            "security": BEARER,
            "parameters": [ALERT_ID],
            "requestBody": _body(m.ActionBy, required=False),
            "responses": {
                "200": _json(m.LifecycleResult, "Done, or it already was (`changed` false)."),
                "400": BAD_JSON,
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "413": TOO_LARGE,
                "422": INVALID,
                "503": UNAVAILABLE,
            },
        }
    }


def _read_operation(summary: str, answer: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "security": BEARER,
            "parameters": [ALERT_ID],
            "responses": {
                "200": _json(answer, description),
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "503": UNAVAILABLE,
            },
        }
    }


ALERTS: dict[str, Any] = {
    "post": {
        "summary": "Trigger, acknowledge or resolve an alert",
        "security": BEARER,
        "requestBody": _body(AlertIn),
        "responses": {
            "202": _json(m.AlertAccepted, "Stored; routing is queued."),
            "400": BAD_JSON,
            "401": UNAUTHORIZED,
            "413": TOO_LARGE,
            "422": INVALID,
            "503": UNAVAILABLE,
        },
    },
    "get": {
        "summary": "List alerts, newest first: open ones unless `status` says otherwise",
        "description": "Every filter given must hold; numbers are masked. Page with "
        "`next_cursor` until it is null.",
        "security": BEARER,
        "parameters": LIST_PARAMETERS,
        "responses": {
            "200": _json(m.AlertList, "One page of alerts."),
            "401": UNAUTHORIZED,
            "422": _json(m.Error, "A filter value is wrong: `fields` names it."),
            "503": UNAVAILABLE,
        },
    },
}

GRAFANA = _webhook_operation(
    "Grafana Alerting webhook contact point", GrafanaWebhook, GRAFANA_HEADERS
)

PAGERDUTY: dict[str, Any] = {
    "post": {
        "summary": "PagerDuty Events API v2 compatible: trigger, acknowledge, resolve",
        "description": "The routing key is the credential, as at PagerDuty, checked before "
        "anything else in the event: a wrong one is answered 400 with the error "
        "`Invalid routing key`, a missing one `'routing_key' is missing or blank`.",
        "requestBody": _body(PagerDutyEvent),
        "responses": {
            "202": _json(m.PagerDutyAccepted, "Event processed."),
            "400": _json(m.PagerDutyInvalid, "Malformed, incomplete or unauthorized."),
            "413": TOO_LARGE,
            "503": UNAVAILABLE,
        },
    }
}

CHANGE_EVENTS: dict[str, Any] = {
    "post": {
        "summary": "PagerDuty Change Events API compatible: deploys and configuration changes",
        "description": "Authenticated as `/v2/enqueue`. A change pages nobody: it is stored and "
        "shown with alerts of the same service that follow within CHANGE_WINDOW_S, in the alert "
        "view and in the words of its SMS and call.",
        "requestBody": _body(PagerDutyChangeEvent),
        "responses": {
            "202": _json(m.ChangeAccepted, "Change event stored."),
            "400": _json(m.PagerDutyInvalid, "Malformed, incomplete or unauthorized."),
            "413": TOO_LARGE,
            "503": UNAVAILABLE,
        },
    }
}


def _plain(summary: str, description: str, media_type: str, schema: dict[str, Any]) -> Any:
    answer = {"description": description, "content": {media_type: {"schema": schema}}}
    return {"get": {"summary": summary, "responses": {"200": answer}}}


HEALTHZ: dict[str, Any] = {
    "get": {
        "summary": "Database and Redis reachable",
        "responses": {
            "200": _json(m.Health, "Healthy."),
            "503": _json(m.Health, "A dependency is down; `checks` names it."),
        },
    }
}

PATHS: dict[str, Any] = {
    "/api/v1/alerts": ALERTS,
    "/api/v1/alerts/{alert_id}": _read_operation(
        "An alert, its notifications (numbers masked) and its timeline", m.AlertView, "The alert."
    ),
    "/api/v1/alerts/{alert_id}/timeline": _read_operation(
        "An alert's event log, oldest first", m.Timeline, "The timeline."
    ),
    "/api/v1/integrations/alertmanager": {
        "post": _webhook_operation(
            "Prometheus Alertmanager webhook receiver", AlertmanagerWebhook, []
        )
    },
    "/api/v1/integrations/grafana": {
        "post": GRAFANA,
        "put": {**GRAFANA, "summary": "Grafana Alerting webhook contact point (HTTP method PUT)"},
    },
    "/v2/enqueue": PAGERDUTY,
    "/v2/change/enqueue": CHANGE_EVENTS,
    "/healthz": HEALTHZ,
    "/metrics": _plain(
        "Prometheus metrics", "Prometheus text exposition format.", "text/plain", {"type": "string"}
    ),
    "/openapi.json": _plain(
        "This document", "OpenAPI 3.1 document.", "application/json", {"type": "object"}
    ),
    "/api/v1/alerts/{alert_id}/ack": _lifecycle_operation("Acknowledge"),
    "/api/v1/alerts/{alert_id}/resolve": _lifecycle_operation("Resolve"),
    **NOTICE_PATHS,
    **SUBSCRIBER_PATHS,
    **ONCALL_PATHS,
}
