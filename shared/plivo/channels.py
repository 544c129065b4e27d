"""The bodies and answers of Plivo's WhatsApp template messages and PHLO runs.

Pure: the client (shared.plivo.client) sends what this builds and hands back
what it reads. Facts relied on, from Plivo's public docs ("Send SMS/MMS/WhatsApp",
"Run a PHLO") and its Python SDK (`messages.create`, `utils/template.py`,
`PhloClient`):

* WhatsApp is `POST /Message/` with `type: "whatsapp"`, `src` the number of the
  WhatsApp Business Account (a Powerpack cannot send it) and a `template`
  object: `{"name", "language", "components": [{"type": "body", "parameters":
  [{"type": "text", "text": ...}]}]}`; `language` is a plain code (`en`,
  `en_US`). Meta accepts only approved templates outside a 24-hour session, so
  a notice always sends one. The answer is an SMS's: 202 with `message_uuid`.
* A PHLO runs at `POST https://phlorunner.plivo.com/v1/account/{auth_id}/phlo/{phlo_id}`
  (another host than the REST API, and `account` in lower case), its JSON body
  the keys the PHLO's Start node declares (`from`, `to`, any others). Plivo
  answers 201 `{"api_id", "phlo_id", "message"}`; `api_id` names the run (the
  phlo_run_id). There is no documented API to read a run back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from shared.core.phone import plivo_format
from shared.plivo.errors import PlivoBadResponse

REST_HOST = "api.plivo.com"
PHLO_BASE = "https://phlorunner.plivo.com"
# The `endpoint` label of a PHLO run in alert_dispatch_plivo_request_seconds.
PHLO_ENDPOINT = "phlo_run"


@dataclass(frozen=True)
class WhatsAppTemplate:
    """An approved template and the texts of its body's placeholders, in order."""

    name: str
    language: str
    variables: tuple[str, ...] = ()


def whatsapp_body(
    template: WhatsAppTemplate, *, src: str, dst: str, callback_url: str | None
) -> dict[str, Any]:
    """The `POST /Message/` body of one WhatsApp template message to one number."""
    components = []
    if template.variables:
        parameters = [{"type": "text", "text": text} for text in template.variables]
        components.append({"type": "body", "parameters": parameters})
    body: dict[str, Any] = {
        "src": plivo_format(src),
        "dst": plivo_format(dst),
        "type": "whatsapp",
        "template": {
            "name": template.name,
            "language": template.language,
            "components": components,
        },
    }
    if callback_url:
        body["url"] = callback_url
        body["method"] = "POST"
    return body


def single_uuid(data: Mapping[str, Any]) -> str:
    """The one message uuid of an answer to a send to one number."""
    uuids = data.get("message_uuid")
    if not isinstance(uuids, list) or len(uuids) != 1 or not isinstance(uuids[0], str):
        raise PlivoBadResponse("send answer has not exactly one message_uuid", body=dict(data))
    return uuids[0]


@dataclass(frozen=True)
class PhloRun:
    """Plivo's answer to a PHLO run: the run's id, and what its first node did."""

    phlo_run_id: str
    phlo_id: str
    message: str


def phlo_base(rest_base_url: str) -> str:
    """Where PHLOs run: Plivo's PHLO host for its REST API, else the same base (a
    simulator or a proxy serves both)."""
    if urlsplit(rest_base_url).hostname == REST_HOST:
        return PHLO_BASE
    return rest_base_url.rstrip("/")


def phlo_run_url(rest_base_url: str, auth_id: str, phlo_id: str) -> str:
    account, phlo = quote(auth_id, safe=""), quote(phlo_id, safe="")
    return f"{phlo_base(rest_base_url)}/v1/account/{account}/phlo/{phlo}"


def phlo_run(phlo_id: str, data: Mapping[str, Any]) -> PhloRun:
    """The run named by Plivo's answer; PlivoBadResponse when it names none."""
    run_id = data.get("api_id")
    if not isinstance(run_id, str) or not run_id:
        raise PlivoBadResponse("PHLO run answer has no api_id", body=dict(data))
    return PhloRun(run_id, str(data.get("phlo_id") or phlo_id), str(data.get("message", "")))


def phlo_payload(src: str, dst: str, variables: Mapping[str, str]) -> dict[str, str]:
    """The Start node's keys: the notice's words, then `from` and `to` (E.164)."""
    reserved = ("from", "to")
    payload = {key: value for key, value in variables.items() if key not in reserved}
    payload.update({"from": _e164(src), "to": _e164(dst)})
    return payload


def _e164(number: str) -> str:
    return "+" + plivo_format(number)
