"""What a step does besides paging its targets: run a PHLO, post to a webhook, call its
people into the incident bridge.

    steps:
      - phlo: {id: 5f1c…, to: [alice, db-team]}   # Plivo's call flow, with the alert
        wait: 5m
      - targets: [bob]
        channels: [sms]
        webhook: {url: https://hooks.slack.com/…, format: slack}
        wait: 10m
      - targets: [alice, bob]
        channels: [voice]
        bridge: true      # answered calls go straight into the alert's bridge
        wait: 10m

A step has `targets` (with `channels`), a `phlo`, a `webhook`, or any mix of
them; `wait` always. `bridge: true` makes the step's voice calls, once
answered, join the alert's incident bridge (webhooks.plivo_conference) instead
of hearing the menu: it needs targets and the voice channel. The shapes here
check one part of the file each, placed by path and line as every other field;
what a run or a post sends is in shared.steps. A webhook's secret stays in the
environment: the file names the variable (`secret_env`), so the secret is
never written in the file nor frozen onto an alert, and a missing variable is
reported by `config check` only (it may be set for the workers alone) and
fails the post, never a start.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    ValidationInfo,
    model_validator,
)

from shared.notices.model import PhloId
from shared.routing.config_fields import DeclaredNames, non_empty, unique

# Keys a step may carry instead of `targets` and `channels`.
ACTION_KEYS = ("phlo", "webhook")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _phlo_recipient(value: str, info: ValidationInfo) -> str:
    """A PHLO calls people by number: a contact, or a team standing for its members.
    A schedule is refused: a run is given its numbers when its step fires."""
    names = info.context if isinstance(info.context, DeclaredNames) else None
    if names is None or value in names.contacts | names.teams:
        return value
    if value in names.schedules:
        raise ValueError(f'"{value}" is a schedule: a PHLO step names contacts or teams')
    raise ValueError(f'unknown contact or team "{value}"')


def _web_url(value: str) -> str:
    """Only http(s) with a host; the URL is not repeated in the message, as a chat
    webhook's URL is its credential."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value.strip()


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f'"{value}" is not an environment variable name')
    return value


def _bridge_flag(value: Any) -> bool:
    """Only YAML's true or false: a string such as "yes" or "on" (quoted, so not a
    boolean) is more likely a mistake than a wish to call people into a bridge."""
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {json.dumps(value, default=str)}")
    return value


def bridge_problem(bridge: bool, fields: Mapping[str, Any]) -> str | None:
    """Why a step's `bridge: true` cannot work, given the step's fields validated so far;
    None when it can (or a field it needs is reported wrong on its own)."""
    if not bridge or "targets" not in fields or "channels" not in fields:
        return None
    if not fields["targets"]:
        return "a bridge step calls its targets into the alert's bridge: give targets"
    if "voice" not in fields["channels"]:
        return "a bridge step calls people into the alert's bridge: add voice to its channels"
    return None


BridgeFlag = Annotated[bool, BeforeValidator(_bridge_flag)]
PhloRecipient = Annotated[str, AfterValidator(_phlo_recipient)]
WebUrl = Annotated[str, AfterValidator(_web_url)]
EnvName = Annotated[str, AfterValidator(_env_name)]


class PhloAction(_Model):
    """Run PHLO `id` once for each person `to` names, with the alert as its variables."""

    id: PhloId
    to: Annotated[tuple[PhloRecipient, ...], AfterValidator(non_empty), AfterValidator(unique)]


class WebhookFormat(StrEnum):
    SLACK = "slack"
    MATTERMOST = "mattermost"
    JSON = "json"


class WebhookAction(_Model):
    """Post the alert to `url`: Slack's or Mattermost's `{"text": ...}`, or a JSON body
    signed with the secret in the environment variable `secret_env`."""

    url: WebUrl
    format: WebhookFormat
    secret_env: EnvName | None = None

    @model_validator(mode="after")
    def _json_is_signed(self) -> WebhookAction:
        if self.format is WebhookFormat.JSON and self.secret_env is None:
            raise ValueError("a json webhook is signed: give secret_env, the variable with its key")
        return self


def missing_step_keys(data: Any) -> list[str]:
    """The keys a raw step lacks: `targets` and `channels` without a PHLO or a webhook;
    with one, `channels` only when `targets` is given; `wait` is the field's own."""
    if not isinstance(data, Mapping):
        return []
    has_action = any(data.get(key) is not None for key in ACTION_KEYS)
    if has_action:
        return ["channels"] if "targets" in data and "channels" not in data else []
    return [key for key in ("targets", "channels") if key not in data]


def missing_secret_problems(
    policies: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Webhook steps whose secret variable is not set here: (path, message) for `config
    check`, which runs where the workers should run. Never the secret itself."""
    env = os.environ if environ is None else environ
    for name, policy in policies.items():
        for index, step in enumerate(policy.steps):
            webhook = step.webhook
            if webhook is None or webhook.secret_env is None or env.get(webhook.secret_env):
                continue
            loc = ("policies", name, "steps", index, "webhook", "secret_env")
            yield loc, f"environment variable {webhook.secret_env} is not set (or empty)"
