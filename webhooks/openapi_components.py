"""The schemas of /openapi.json, generated from the pydantic models that do the work.

Requests are described by the very models that validate them (`shared.alerts.schemas`,
`shared.alerts.formats`), answers by `webhooks.api_models`; pydantic writes the JSON
Schema (2020-12, the dialect of OpenAPI 3.1) and every nested model lands once under
`components/schemas`, named as its class. What pydantic cannot see is spelled out
here: a validator function is code, not a schema, so the rules of the two that
producers meet most (readable text, international numbers) become patterns.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

from shared.alerts.formats.alertmanager import AlertmanagerWebhook
from shared.alerts.formats.grafana import GrafanaWebhook
from shared.alerts.formats.pagerduty import PagerDutyEvent
from shared.alerts.formats.pagerduty_change import PagerDutyChangeEvent
from shared.alerts.schemas import AlertIn, invisible_ranges, require_visible
from shared.notices.model import Notice
from shared.notices.updates import NoticeChange
from webhooks import api_models, notice_api_models, oncall_api_models, subscriber_api_models

REF_TEMPLATE = "#/components/schemas/{model}"

# Bodies the receiver reads, described as it validates them.
REQUESTS: tuple[type[BaseModel], ...] = (
    AlertIn,
    api_models.ActionBy,
    AlertmanagerWebhook,
    GrafanaWebhook,
    PagerDutyEvent,
    PagerDutyChangeEvent,
    Notice,
    NoticeChange,
    subscriber_api_models.SubscriberListIn,
    subscriber_api_models.NumbersIn,
    oncall_api_models.OverrideIn,
)
# Bodies the receiver answers with, described as they are sent.
RESPONSES: tuple[type[BaseModel], ...] = (
    api_models.Error,
    api_models.AlertAccepted,
    api_models.AlertList,
    api_models.AlertView,
    api_models.Timeline,
    api_models.LifecycleResult,
    api_models.IntegrationAccepted,
    api_models.PagerDutyAccepted,
    api_models.ChangeAccepted,
    api_models.PagerDutyInvalid,
    api_models.Health,
    notice_api_models.NoticeList,
    notice_api_models.NoticeView,
    notice_api_models.NoticeUpdated,
    notice_api_models.NoticeCancelled,
    notice_api_models.NoticeStatus,
    subscriber_api_models.SubscriberLists,
    subscriber_api_models.SubscriberListView,
    subscriber_api_models.NumbersAdded,
    subscriber_api_models.NumbersRemoved,
    subscriber_api_models.ListDeleted,
    oncall_api_models.OncallList,
    oncall_api_models.OncallView,
    oncall_api_models.OverrideList,
    oncall_api_models.OverrideView,
)

# White space as Python's str.isspace() sees it (ECMA's \s differs, so it is spelled out).
SPACES = (
    r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f"
    r"\u205f\u3000"
)
E164_PATTERN = f"^[{SPACES}]*\\+"
VISIBLE_TEXT = (
    "Trimmed, then must hold a character that is not white space, a control "
    "or a format character (Unicode Cc, Cf)."
)


def ref(model: type[BaseModel]) -> dict[str, str]:
    """A reference to the component generated for `model`."""
    return {"$ref": REF_TEMPLATE.format(model=model.__name__)}


def _class_char(point: int) -> str:
    return f"\\u{point:04x}"


@lru_cache(maxsize=1)
def visible_pattern() -> str:
    """One character that is not white space, control (Cc) or format (Cf): the rule
    `shared.alerts.schemas.has_visible_text` applies, spelled out from the same predicate.
    Built when the document is first asked for: it walks every code point (a third
    of a second), which no process should pay at start.

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


class OpenApiJsonSchema(GenerateJsonSchema):
    """Pydantic's generator, plus the rules validator functions apply, minus field titles
    (pydantic derives them from the field names, so they only repeat the keys)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False

    def function_after_schema(
        self, schema: core_schema.AfterValidatorFunctionSchema
    ) -> JsonSchemaValue:
        json_schema = super().function_after_schema(schema)
        if schema["function"]["function"] is require_visible:
            json_schema = {**json_schema, "pattern": visible_pattern(), "description": VISIBLE_TEXT}
        return json_schema


def _spell_out_formats(value: Any) -> None:
    """A number with the `e164` format gets the pattern a generic client can check:
    whatever leads, after white space, is a `+` (the country code follows)."""
    if isinstance(value, dict):
        if value.get("format") == "e164":
            value.setdefault("pattern", E164_PATTERN)
        for item in value.values():
            _spell_out_formats(item)
    elif isinstance(value, list):
        for item in value:
            _spell_out_formats(item)


def component_schemas() -> dict[str, Any]:
    """Every request and answer model, and each model and enum they hold, by class name."""
    _, top = models_json_schema(
        [(model, "validation") for model in REQUESTS]
        + [(model, "serialization") for model in RESPONSES],
        ref_template=REF_TEMPLATE,
        schema_generator=OpenApiJsonSchema,
    )
    schemas: dict[str, Any] = top["$defs"]
    _spell_out_formats(schemas)
    return schemas
