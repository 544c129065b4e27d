"""GET /openapi.json: the OpenAPI 3.0 description of every endpoint producers and operators use.

Written out by hand, next to the code it describes, rather than generated:
the document is a contract, and the contract test (tests/test_openapi_contract.py)
fuzzes the served receiver against it, so the two cannot drift apart silently.
Plivo's callbacks are left out: Plivo, not a producer, calls them, signed.
"""

from __future__ import annotations

import copy
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from shared.alerts.schemas import invisible_ranges
from shared.core.settings import Settings
from shared.core.strict_json import MAX_DEPTH

bp = Blueprint("openapi", __name__)

# White space as Python's str.isspace() sees it (ECMA's \s differs, so it is spelled out).
SPACES = (
    r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f"
    r"\u205f\u3000"
)


def _class_char(point: int) -> str:
    return f"\\u{point:04x}"


def _visible_pattern() -> str:
    """One character that is not white space, control (Cc) or format (Cf): the rule
    `shared.alerts.schemas.has_visible_text` applies, spelled out from the same predicate.

    NUL is left out of the class: it becomes U+FFFD, which is visible, before the
    rule is applied. So are the few format characters beyond the Basic
    Multilingual Plane (tags, shorthand and musical format controls), which
    ECMA patterns cannot spell without the `u` flag; the server refuses them
    too, as the description says."""
    ranges = [
        (max(first, 1), min(last, 0xFFFF))
        for first, last in invisible_ranges()
        if last >= 1 and first <= 0xFFFF
    ]
    parts = [
        _class_char(first) if first == last else f"{_class_char(first)}-{_class_char(last)}"
        for first, last in ranges
    ]
    return f"[^{''.join(parts)}]"


VISIBLE = _visible_pattern()


def _text(max_length: int, **extra: Any) -> dict[str, Any]:
    """Text that is trimmed, then must hold a character a person can read."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": VISIBLE,
        "description": "Trimmed, then must hold a character that is not white space, a control "
        "or a format character (Unicode Cc, Cf).",
        **extra,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _ref("Error")
ALERT_ID = {
    "name": "alert_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
}
BAD_JSON = _json(
    ERROR,
    f"The body is not valid JSON, nests deeper than {MAX_DEPTH} levels, or holds a number "
    "that is not finite (NaN, Infinity, 1e400) or a lone UTF-16 surrogate.",
)
UNAUTHORIZED = _json(ERROR, "Missing or wrong bearer token.")
TOO_LARGE = _json(ERROR, "The body is larger than MAX_BODY_BYTES.")
INVALID = _json(ERROR, "The body is not an object, or fields are missing or wrong: each is named.")
NOT_FOUND = _json(ERROR, "No alert with that id.")
UNAVAILABLE = _json(ERROR, "The database is unreachable: nothing was stored; retry later.")
EVENT_STATUS = {
    "type": "string",
    "enum": ["created", "deduplicated", "acknowledged", "resolved", "ignored"],
    "description": "What the event did. `ignored`: acknowledge or resolve with no open alert.",
}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
TEXT_MAP = {"type": "object", "additionalProperties": {"type": "string"}}

TIMELINE = {
    "type": "array",
    "description": "The alert's event log, oldest first.",
    "items": {
        "type": "object",
        "required": ["id", "at", "kind", "detail"],
        "properties": {
            "id": {"type": "integer"},
            "at": {"type": "string"},
            "kind": {"type": "string"},
            "notification_id": {"type": "integer", "nullable": True},
            "detail": {"type": "object"},
        },
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "status"],
        "properties": {
            "error": {"type": "string"},
            "status": {"type": "integer"},
            "fields": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
    },
    "AlertIn": {
        "type": "object",
        "additionalProperties": False,
        "required": ["summary"],
        "properties": {
            "summary": _text(1024),
            "severity": {
                "type": "string",
                "enum": ["critical", "error", "warning", "info"],
                "default": "error",
            },
            "source": _text(200, default="api"),
            "dedup_key": {
                **_text(255),
                "nullable": True,
                "description": "While an alert with this key is open, a trigger adds an "
                "occurrence and pages nobody; acknowledge and resolve find the alert by it.",
            },
            "details": {
                "type": "object",
                "description": f"Any JSON object; the whole body nests at most {MAX_DEPTH} levels.",
            },
            "labels": LABELS,
            "action": {
                "type": "string",
                "enum": ["trigger", "acknowledge", "resolve"],
                "default": "trigger",
            },
            "recipients": {
                "type": "array",
                "maxItems": 100,
                "items": {
                    "type": "string",
                    "format": "e164",
                    "pattern": f"^[{SPACES}]*\\+",
                    "description": "An international number: + and the country code, valid "
                    "for its country (spaces and punctuation are ignored); stored as E.164.",
                },
            },
        },
    },
    "AlertAccepted": {
        "type": "object",
        "required": ["id", "status", "queued"],
        "properties": {
            "id": {"type": "integer", "nullable": True},
            "status": EVENT_STATUS,
            "queued": {
                "type": "boolean",
                "description": "false: stored, but the broker was down; the tick hands it over",
            },
        },
    },
    "AlertView": {
        "type": "object",
        "required": [
            "id",
            "summary",
            "severity",
            "source",
            "status",
            "occurrences",
            "created_at",
            "notifications",
            "timeline",
        ],
        "properties": {
            "id": {"type": "integer"},
            "summary": {"type": "string"},
            "severity": {"type": "string"},
            "source": {"type": "string"},
            "dedup_key": {"type": "string", "nullable": True},
            "status": {"type": "string", "enum": ["triggered", "acknowledged", "resolved"]},
            "occurrences": {"type": "integer"},
            "created_at": {"type": "string"},
            "acknowledged_at": {"type": "string", "nullable": True},
            "acknowledged_by": {"type": "string", "nullable": True},
            "acknowledged_via": {"type": "string", "nullable": True},
            "resolved_at": {"type": "string", "nullable": True},
            "notifications": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "channel", "to", "state"],
                    "properties": {
                        "id": {"type": "integer"},
                        "channel": {"type": "string"},
                        "to": {"type": "string", "description": "masked number"},
                        "state": {"type": "string"},
                    },
                },
            },
            "timeline": TIMELINE,
        },
    },
    "AlertSummary": {
        "type": "object",
        "required": [
            "id",
            "status",
            "severity",
            "summary",
            "source",
            "labels",
            "recipients",
            "created_at",
            "escalation",
            "notifications",
        ],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["triggered", "acknowledged", "resolved"]},
            "severity": {"type": "string"},
            "summary": {"type": "string"},
            "source": {"type": "string"},
            "labels": LABELS,
            "recipients": {
                "type": "array",
                "items": {"type": "string", "description": "masked number"},
            },
            "created_at": {"type": "string"},
            "acknowledged_at": {"type": "string", "nullable": True},
            "acknowledged_by": {"type": "string", "nullable": True},
            "acknowledged_via": {"type": "string", "nullable": True},
            "resolved_at": {"type": "string", "nullable": True},
            "escalation": {
                "type": "object",
                "required": ["state", "step", "round"],
                "properties": {
                    "state": {"type": "string"},
                    "policy": {"type": "string", "nullable": True},
                    "step": {"type": "integer", "description": "0-based, as a notification's"},
                    "round": {"type": "integer"},
                    "next_at": {"type": "string", "nullable": True},
                },
            },
            "notifications": {"type": "integer", "minimum": 0},
        },
    },
    "AlertList": {
        "type": "object",
        "required": ["alerts", "next_cursor"],
        "properties": {
            "alerts": {"type": "array", "items": _ref("AlertSummary")},
            "next_cursor": {
                "type": "string",
                "nullable": True,
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
    },
    "Timeline": {
        "type": "object",
        "required": ["id", "timeline"],
        "properties": {
            "id": {"type": "integer"},
            "timeline": TIMELINE,
        },
    },
    "ActionBy": {
        "type": "object",
        "properties": {"by": {**_text(200), "default": "api"}},
    },
    "LifecycleResult": {
        "type": "object",
        "required": ["id", "status", "changed", "cancelled_notifications"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["triggered", "acknowledged", "resolved"]},
            "changed": {"type": "boolean", "description": "false: it already was"},
            "cancelled_notifications": {"type": "integer", "minimum": 0},
        },
    },
    "WebhookAlert": {
        "type": "object",
        "required": ["status", "labels", "fingerprint"],
        "properties": {
            "status": {"type": "string", "enum": ["firing", "resolved"]},
            "labels": LABELS,
            "annotations": TEXT_MAP,
            "startsAt": {"type": "string", "nullable": True},
            "endsAt": {"type": "string", "nullable": True},
            "generatorURL": {"type": "string"},
            "fingerprint": {"type": "string", "minLength": 1, "maxLength": 128},
        },
    },
    "AlertmanagerWebhook": {
        "type": "object",
        "description": "Alertmanager's webhook body, version 4.",
        "required": ["version", "receiver", "status", "alerts"],
        "properties": {
            "version": {"type": "string", "enum": ["4"]},
            "receiver": {"type": "string", "minLength": 1, "maxLength": 200},
            "status": {"type": "string", "enum": ["firing", "resolved"]},
            "alerts": {"type": "array", "minItems": 1, "items": _ref("WebhookAlert")},
            "groupLabels": TEXT_MAP,
            "commonLabels": TEXT_MAP,
            "commonAnnotations": TEXT_MAP,
            "externalURL": {"type": "string"},
            "groupKey": {"type": "string"},
            "truncatedAlerts": {"type": "integer", "minimum": 0},
        },
    },
    "GrafanaAlert": {
        "allOf": [
            _ref("WebhookAlert"),
            {
                "type": "object",
                "properties": {
                    "silenceURL": {"type": "string"},
                    "dashboardURL": {"type": "string"},
                    "panelURL": {"type": "string"},
                    "imageURL": {"type": "string"},
                    "values": {
                        "type": "object",
                        "nullable": True,
                        "additionalProperties": {"type": "number", "nullable": True},
                    },
                    "valueString": {"type": "string"},
                },
            },
        ]
    },
    "GrafanaWebhook": {
        "type": "object",
        "description": "Grafana Alerting's webhook contact point body, version 1.",
        "required": ["version", "receiver", "status", "alerts"],
        "properties": {
            "version": {"type": "string", "enum": ["1"]},
            "receiver": {"type": "string", "minLength": 1, "maxLength": 200},
            "status": {"type": "string", "enum": ["firing", "resolved"]},
            "orgId": {"type": "integer"},
            "alerts": {"type": "array", "minItems": 1, "items": _ref("GrafanaAlert")},
            "groupLabels": TEXT_MAP,
            "commonLabels": TEXT_MAP,
            "commonAnnotations": TEXT_MAP,
            "externalURL": {"type": "string"},
            "groupKey": {"type": "string"},
            "truncatedAlerts": {"type": "integer", "minimum": 0},
            "title": {"type": "string"},
            "state": {"type": "string"},
            "message": {"type": "string"},
        },
    },
    "IntegrationAccepted": {
        "type": "object",
        "required": ["accepted", "alerts"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 1},
            "alerts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["dedup_key", "action", "id", "status", "queued"],
                    "properties": {
                        "dedup_key": {"type": "string"},
                        "action": {"type": "string", "enum": ["trigger", "acknowledge", "resolve"]},
                        "id": {"type": "integer", "nullable": True},
                        "status": EVENT_STATUS,
                        "queued": {"type": "boolean"},
                    },
                },
            },
        },
    },
    "PagerDutyPayload": {
        "type": "object",
        "required": ["summary", "source", "severity"],
        "properties": {
            "summary": _text(1024),
            "source": _text(1024),
            "severity": {"type": "string", "enum": ["critical", "error", "warning", "info"]},
            "timestamp": {"type": "string"},
            "component": {"type": "string", "maxLength": 1024},
            "group": {"type": "string", "maxLength": 1024},
            "class": {"type": "string", "maxLength": 1024},
            "custom_details": {},
        },
    },
    "PagerDutyEvent": {
        "type": "object",
        "description": "A PagerDuty Events API v2 alert event. `payload` is required to "
        "trigger, `dedup_key` to acknowledge or resolve.",
        "required": ["routing_key", "event_action"],
        "anyOf": [
            {"properties": {"event_action": {"enum": ["trigger"]}}, "required": ["payload"]},
            {
                "properties": {"event_action": {"enum": ["acknowledge", "resolve"]}},
                "required": ["dedup_key"],
            },
        ],
        "properties": {
            "routing_key": {
                "type": "string",
                "minLength": 1,
                "description": "One of the pagerduty tokens (INTEGRATION_TOKENS), else API_TOKENS, "
                "exactly; the header X-Routing-Key is read when the body has none.",
            },
            "event_action": {"type": "string", "enum": ["trigger", "acknowledge", "resolve"]},
            "dedup_key": _text(255),
            "payload": _ref("PagerDutyPayload"),
            "client": {"type": "string"},
            "client_url": {"type": "string"},
            "images": {"type": "array", "items": {"type": "object"}},
            "links": {"type": "array", "items": {"type": "object"}},
        },
    },
    "PagerDutyAccepted": {
        "type": "object",
        "required": ["status", "message", "dedup_key"],
        "properties": {
            "status": {"type": "string", "enum": ["success"]},
            "message": {"type": "string", "enum": ["Event processed"]},
            "dedup_key": {"type": "string"},
        },
    },
    "PagerDutyInvalid": {
        "type": "object",
        "required": ["status", "message", "errors"],
        "properties": {
            "status": {"type": "string", "enum": ["invalid event"]},
            "message": {"type": "string", "enum": ["Event object is invalid"]},
            "errors": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "checks": {
                "type": "object",
                "additionalProperties": {"type": "string", "enum": ["ok", "unavailable"]},
            },
            "callbacks": {
                "type": "string",
                "description": "ok, or why Plivo callbacks were refused lately "
                '("refused: signed for <url> but PUBLIC_BASE_URL is <url>"); '
                "unknown when Redis is down.",
            },
        },
    },
}

BEARER = [{"bearerAuth": []}]


def _webhook_operation(summary: str, schema: str, extra_parameters: list[Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "security": BEARER,
        "parameters": extra_parameters,
        "requestBody": _body(_ref(schema)),
        "responses": {
            "202": _json(_ref("IntegrationAccepted"), "Every alert of the group stored."),
            "400": BAD_JSON,
            "401": _json(ERROR, "Missing or wrong bearer token, or (Grafana) signature."),
            "413": TOO_LARGE,
            "422": INVALID,
            "503": UNAVAILABLE,
        },
    }


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


def _enum_list(values: list[str]) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "items": {"type": "string", "enum": values}}


LIST_PARAMETERS = [
    _query(
        "status",
        _enum_list(["triggered", "acknowledged", "resolved"]),
        "Default: triggered,acknowledged (the open ones).",
        style="form",
        explode=False,
    ),
    _query(
        "severity",
        _enum_list(["critical", "error", "warning", "info"]),
        "Any of these.",
        style="form",
        explode=False,
    ),
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
        {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "Alerts per page.",
    ),
    _query("cursor", {"type": "string"}, "`next_cursor` of the page before."),
]

PATHS: dict[str, Any] = {
    "/api/v1/alerts": {
        "post": {
            "summary": "Trigger, acknowledge or resolve an alert",
            "security": BEARER,
            "requestBody": _body(_ref("AlertIn")),
            "responses": {
                "202": _json(_ref("AlertAccepted"), "Stored; routing is queued."),
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
                "200": _json(_ref("AlertList"), "One page of alerts."),
                "401": UNAUTHORIZED,
                "422": _json(ERROR, "A filter value is wrong: `fields` names it."),
                "503": UNAVAILABLE,
            },
        },
    },
    "/api/v1/alerts/{alert_id}": {
        "get": {
            "summary": "An alert, its notifications (numbers masked) and its timeline",
            "security": BEARER,
            "parameters": [ALERT_ID],
            "responses": {
                "200": _json(_ref("AlertView"), "The alert."),
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "503": UNAVAILABLE,
            },
        }
    },
    "/api/v1/alerts/{alert_id}/timeline": {
        "get": {
            "summary": "An alert's event log, oldest first",
            "security": BEARER,
            "parameters": [ALERT_ID],
            "responses": {
                "200": _json(_ref("Timeline"), "The timeline."),
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "503": UNAVAILABLE,
            },
        }
    },
    "/api/v1/integrations/alertmanager": {
        "post": _webhook_operation(
            "Prometheus Alertmanager webhook receiver", "AlertmanagerWebhook", []
        )
    },
    "/api/v1/integrations/grafana": {
        "post": _webhook_operation(
            "Grafana Alerting webhook contact point", "GrafanaWebhook", GRAFANA_HEADERS
        ),
    },
    "/v2/enqueue": {
        "post": {
            "summary": "PagerDuty Events API v2 compatible: trigger, acknowledge, resolve",
            "description": "The routing key is the credential, as at PagerDuty, checked before "
            "anything else in the event: a wrong one is answered 400 with the error "
            "`Invalid routing key`, a missing one `'routing_key' is missing or blank`.",
            "requestBody": _body(_ref("PagerDutyEvent")),
            "responses": {
                "202": _json(_ref("PagerDutyAccepted"), "Event processed."),
                "400": _json(_ref("PagerDutyInvalid"), "Malformed, incomplete or unauthorized."),
                "413": TOO_LARGE,
                "503": UNAVAILABLE,
            },
        }
    },
    "/healthz": {
        "get": {
            "summary": "Database and Redis reachable",
            "responses": {
                "200": _json(_ref("Health"), "Healthy."),
                "503": _json(_ref("Health"), "A dependency is down; `checks` names it."),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.0 document.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
}

for _action, _word in (("ack", "Acknowledge"), ("resolve", "Resolve")):
    PATHS[f"/api/v1/alerts/{{alert_id}}/{_action}"] = {
        "post": {
            "summary": f"{_word} an alert: paging for it stops at once",
            "security": BEARER,
            "parameters": [ALERT_ID],
            "requestBody": _body(_ref("ActionBy"), required=False),
            "responses": {
                "200": _json(_ref("LifecycleResult"), "Done, or it already was (`changed` false)."),
                "400": BAD_JSON,
                "401": UNAUTHORIZED,
                "404": NOT_FOUND,
                "413": TOO_LARGE,
                "422": INVALID,
                "503": UNAVAILABLE,
            },
        }
    }
PATHS["/api/v1/integrations/grafana"]["put"] = {
    **PATHS["/api/v1/integrations/grafana"]["post"],
    "summary": "Grafana Alerting webhook contact point (HTTP method PUT)",
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "alert-dispatch",
        "version": "1",
        "description": "On-call paging over SMS and voice. Producers post alerts here; "
        "docs/producers.md maps each format. Every 2xx means the alert is stored; paging "
        "happens in the workers.",
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "API_TOKENS for /api/v1/alerts; each integration's token from "
                "INTEGRATION_TOKENS (falling back to API_TOKENS) for the integrations.",
            }
        },
    },
}


def document_for(settings: Settings) -> dict[str, Any]:
    """The document as this receiver is configured.

    Without an on-call configuration (CONFIG_FILE) nothing routes a new alert,
    so a trigger must name its recipients; acknowledge and resolve need none.
    """
    document = copy.deepcopy(DOCUMENT)
    if settings.config_file is None:
        alert_in = document["components"]["schemas"]["AlertIn"]
        alert_in["anyOf"] = [
            {"required": ["recipients"], "properties": {"recipients": {"minItems": 1}}},
            {
                "required": ["action"],
                "properties": {"action": {"enum": ["acknowledge", "resolve"]}},
            },
        ]
        alert_in["properties"]["recipients"]["description"] = (
            "Required to trigger while no on-call configuration (CONFIG_FILE) routes alerts."
        )
    return document


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document_for(current_app.config["SETTINGS"]))
