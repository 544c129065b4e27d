"""Prometheus Alertmanager webhook (payload version 4) to alerts.

Alertmanager posts one body per notification group, holding every alert of
the group, firing and resolved alike. Each becomes its own event: a firing
alert triggers (or adds an occurrence to) the alert keyed by its fingerprint,
a resolved one resolves it. The key includes the receiver, because the same
Alertmanager alert routed to two receivers is two pages.

Mapping (one entry of `alerts`):

| Alertmanager | ours |
|---|---|
| `status` firing / resolved | action trigger / resolve |
| `receiver` + `fingerprint` | `dedup_key` = `alertmanager:<receiver>:<fingerprint>` |
| `annotations.summary`, else `.message`, else `.description`, else `labels.alertname` | `summary` |
| `labels.severity` (else `labels.priority`) through `SEVERITY_WORDS` | `severity` (default error) |
| `labels` | `labels`, unchanged |
| `annotations`, `startsAt`, `endsAt`, `generatorURL`, `fingerprint`, group fields | `details` |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.alerts.formats import (
    SUMMARY_MAX,
    FormatError,
    bounded_key,
    clip,
    fields_of,
    make_alert,
    severity_from_word,
)
from shared.alerts.schemas import AlertAction, AlertIn, Severity, has_visible_text

SOURCE = "alertmanager"
SUMMARY_ANNOTATIONS = ("summary", "message", "description")


def _readable(text: str) -> str:
    """`text` trimmed, or empty when nothing in it can be read."""
    return text.strip() if has_visible_text(text) else ""


class WebhookAlert(BaseModel):
    """One alert of a group, as Alertmanager (and Grafana, which copies it) sends it."""

    # Producers add fields over time; unknown ones are kept out, never refused.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    # Timestamps are kept as sent: a page must not be lost to a clock format.
    starts_at: str | None = Field(default=None, alias="startsAt")
    ends_at: str | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = Field(min_length=1, max_length=128)

    def summary(self) -> str:
        # The first annotation a person can read: one holding only control or
        # format characters would page with an empty message.
        for name in SUMMARY_ANNOTATIONS:
            text = self.annotations.get(name, "")
            if has_visible_text(text):
                return clip(text, SUMMARY_MAX)
        alertname = _readable(self.labels.get("alertname", "")) or "alert"
        instance = _readable(self.labels.get("instance", ""))
        return clip(f"{alertname} on {instance}" if instance else alertname, SUMMARY_MAX)

    def severity(self) -> Severity:
        return severity_from_word(self.labels.get("severity") or self.labels.get("priority"))

    def details(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "annotations": self.annotations,
            "startsAt": self.starts_at,
            "endsAt": self.ends_at,
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }


class WebhookBody(BaseModel):
    """The fields Alertmanager and Grafana share: a receiver and a group of alerts."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    receiver: str = Field(min_length=1, max_length=200)
    status: Literal["firing", "resolved"]
    alerts: list[WebhookAlert] = Field(min_length=1)
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, ge=0, alias="truncatedAlerts")

    def group_details(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "groupKey": self.group_key,
            "groupLabels": self.group_labels,
            "externalURL": self.external_url,
            "truncatedAlerts": self.truncated_alerts,
        }


class AlertmanagerWebhook(WebhookBody):
    """Alertmanager's webhook body; `version` is "4" since Alertmanager 0.6."""

    version: Literal["4"]


def group_to_alerts(
    body: WebhookBody,
    *,
    source: str,
    key_scope: tuple[str, ...] = (),
    extra_details: Mapping[str, Any] | None = None,
) -> list[AlertIn]:
    """Every alert of a group as one event each, in the order the producer sent them.

    The key is `<source>:<scope...>:<receiver>:<fingerprint>`: the fingerprint
    alone names an alert only within one Alertmanager (or Grafana org) and receiver.
    """
    group = {**body.group_details(), **(extra_details or {})}
    events = []
    for index, alert in enumerate(body.alerts):
        try:
            events.append(
                make_alert(
                    summary=alert.summary(),
                    severity=alert.severity(),
                    source=source,
                    dedup_key=bounded_key(source, *key_scope, body.receiver, alert.fingerprint),
                    details={**alert.details(), "group": group},
                    labels=alert.labels,
                    action=(
                        AlertAction.TRIGGER if alert.status == "firing" else AlertAction.RESOLVE
                    ),
                )
            )
        except FormatError as exc:
            raise FormatError(
                exc.message,
                [{**f, "field": f"alerts.{index}.{f['field']}"} for f in exc.fields],
            ) from None
    return events


def parse(payload: Mapping[str, Any]) -> AlertmanagerWebhook:
    try:
        return AlertmanagerWebhook.model_validate(payload)
    except ValidationError as exc:
        raise FormatError("invalid Alertmanager webhook", fields_of(exc)) from None


def to_alerts(payload: Mapping[str, Any]) -> list[AlertIn]:
    """An Alertmanager webhook body as alert events: firing triggers, resolved resolves."""
    return group_to_alerts(parse(payload), source=SOURCE)
