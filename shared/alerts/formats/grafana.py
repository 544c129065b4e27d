"""Grafana Alerting webhook contact point (payload version 1) to alerts.

Grafana's body is Alertmanager's with additions (org, title, message, and per
alert the dashboard, panel, silence links and the query values), so the same
mapping applies; only the key prefix and the extra details differ.

Mapping (one entry of `alerts`):

| Grafana | ours |
|---|---|
| `status` firing / resolved | action trigger / resolve |
| `orgId`, `receiver`, `fingerprint` | `dedup_key` = `grafana:<orgId>:<receiver>:<fingerprint>` |
| `annotations.summary`, else `.message`, else `.description`, else `labels.alertname` | `summary` |
| `labels.severity` (else `labels.priority`) through `SEVERITY_WORDS` | `severity` (default error) |
| `labels` | `labels`, unchanged |
| `annotations`, `values`, `valueString`, links, `startsAt`, `endsAt`, group fields | `details` |

The optional HMAC signature is checked by `shared.alerts.integration_auth`, on the
raw body, before this module sees it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from shared.alerts.formats import FormatError, fields_of
from shared.alerts.formats.alertmanager import WebhookAlert, WebhookBody, group_to_alerts
from shared.alerts.schemas import AlertIn

SOURCE = "grafana"

# A query value: a finite number (not a quoted one, not a boolean), or null for no data.
QueryValue = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class GrafanaAlert(WebhookAlert):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    silence_url: str = Field(default="", alias="silenceURL")
    dashboard_url: str = Field(default="", alias="dashboardURL")
    panel_url: str = Field(default="", alias="panelURL")
    image_url: str = Field(default="", alias="imageURL")
    values: dict[str, QueryValue | None] | None = None
    value_string: str = Field(default="", alias="valueString")

    def details(self) -> dict[str, Any]:
        links = {
            "silenceURL": self.silence_url,
            "dashboardURL": self.dashboard_url,
            "panelURL": self.panel_url,
            "imageURL": self.image_url,
        }
        return {
            **super().details(),
            **{name: url for name, url in links.items() if url},
            "values": self.values or {},
            "valueString": self.value_string,
        }


class GrafanaWebhook(WebhookBody):
    """Grafana's webhook body; `version` is "1" for the unified alerting format."""

    alerts: list[GrafanaAlert] = Field(min_length=1)  # type: ignore[assignment]
    version: Literal["1"]
    org_id: int = Field(default=1, alias="orgId")
    title: str = ""
    state: str = ""
    message: str = ""


def parse(payload: Mapping[str, Any]) -> GrafanaWebhook:
    try:
        return GrafanaWebhook.model_validate(payload)
    except ValidationError as exc:
        raise FormatError("invalid Grafana webhook", fields_of(exc)) from None


def to_alerts(payload: Mapping[str, Any]) -> list[AlertIn]:
    """A Grafana webhook body as alert events: firing triggers, resolved resolves."""
    body = parse(payload)
    return group_to_alerts(
        body,
        source=SOURCE,
        key_scope=(str(body.org_id),),
        extra_details={"orgId": body.org_id, "title": body.title},
    )
