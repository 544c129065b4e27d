"""WhatsApp template messages: `POST /Message/` with `type: "whatsapp"`, as Plivo takes it.

What this follows, from Plivo's public docs ("Send SMS/MMS/WhatsApp", "Message
Status Callbacks", "The Message object") and its Python SDK
(`messages.create`, `utils/template.py`):

* `src` is the number of the WhatsApp Business Account; a Powerpack cannot send
  WhatsApp (the SDK refuses a whatsapp message without `src`). `dst` is as
  for SMS: several numbers joined with `<`, each its own conversation.
* `template` (only with `type: "whatsapp"`): `{"name", "language",
  "components": [{"type", "sub_type"?, "index"?, "parameters": [{"type":
  "text", "text"}, ...]}]}`; `language` is a plain code such as `en_US`.
  Template names are snake_case (`a-z`, `0-9`, `_`).
* The answer is an SMS's: 202, `message(s) queued`, one `message_uuid` per
  valid destination, `invalid_number` for the others.
* Outbound states: queued, sent, delivered, read (WhatsApp only, when the
  reader has read receipts on), failed. Status callbacks carry the SMS fields
  (`Type` is `whatsapp`) plus the WhatsApp-only `ConversationID`,
  `ConversationOrigin` (utility, authentication, marketing, service) and
  `ConversationExpirationTimestamp` (unix seconds).

Simplified here: only the templates configured as approved
(`SimulatorConfig.whatsapp_templates`) are accepted, refused with 400
otherwise; the 24-hour customer-service session is not modelled, so a
free-form WhatsApp text (allowed by Plivo inside a session) is refused and a
template is always required. The error texts are the simulator's own.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from simulator.callbacks import CallbackSender
from simulator.config import SimulatorConfig
from simulator.dispatcher import Dispatcher
from simulator.errors import ApiError
from simulator.formats import new_uuid, plivo_number
from simulator.limits import Pacer
from simulator.messaging import MAX_DESTINATIONS, MessageService, split_destinations
from simulator.scenarios import ScenarioBook
from simulator.state import MessageRecord, SimulatorState

TYPE = "whatsapp"
_NAME = re.compile(r"^[a-z0-9_]{1,512}$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
CONVERSATION_S = 24 * 3600
_CONVERSATION_NAMESPACE = uuid.UUID("6f1c3e0a-5b7d-4c51-9a43-2f0d9b7e8a11")


def is_whatsapp(body: Any) -> bool:
    return isinstance(body, Mapping) and str(body.get("type") or "").lower() == TYPE


@dataclass(frozen=True)
class WhatsAppRequest:
    src: str
    destinations: list[str]
    invalid: list[str]
    template: dict[str, Any]
    url: str | None
    method: str


def _parameters(raw: Any, at: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ApiError(400, f"{at}.parameters must be a list")
    for index, parameter in enumerate(raw):
        where = f"{at}.parameters[{index}]"
        if not isinstance(parameter, Mapping) or not isinstance(parameter.get("type"), str):
            raise ApiError(400, f"{where} must be an object with a type")
        if parameter["type"] == "text" and not isinstance(parameter.get("text"), str):
            raise ApiError(400, f"{where}.text must be text")
    return [dict(p) for p in raw]


def check_template(raw: Any, approved: tuple[str, ...]) -> dict[str, Any]:
    """The template object, checked; ApiError(400) naming the field otherwise."""
    if raw is None:
        raise ApiError(400, "template is required: a WhatsApp message outside a session needs one")
    if not isinstance(raw, Mapping):
        raise ApiError(400, "template must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ApiError(400, "template.name must be a template name (a-z, 0-9, _)")
    if name not in approved:
        raise ApiError(400, f"template {name} is not an approved template of this account")
    language = raw.get("language")
    if not isinstance(language, str) or not _LANGUAGE.match(language):
        raise ApiError(400, "template.language must be a language code such as en or en_US")
    components = raw.get("components") or []
    if not isinstance(components, list):
        raise ApiError(400, "template.components must be a list")
    checked = []
    for index, component in enumerate(components):
        at = f"template.components[{index}]"
        if not isinstance(component, Mapping) or not isinstance(component.get("type"), str):
            raise ApiError(400, f"{at} must be an object with a type")
        checked.append({**component, "parameters": _parameters(component.get("parameters"), at)})
    return {"name": name, "language": language, "components": checked}


def _http_url(value: Any) -> bool:
    parts = urlsplit(value) if isinstance(value, str) else None
    return parts is not None and parts.scheme in ("http", "https") and bool(parts.netloc)


def check_request(body: Mapping[str, Any], approved: tuple[str, ...]) -> WhatsAppRequest:
    """A WhatsApp `POST /Message/` body checked as Plivo would; ApiError(400) otherwise."""
    if body.get("powerpack_uuid"):
        raise ApiError(400, "a WhatsApp message is sent from src, not through a powerpack_uuid")
    src = plivo_number(str(body.get("src") or ""))
    if src is None:
        raise ApiError(400, "src is required: the number of the WhatsApp Business Account")
    raw_dst = body.get("dst")
    if not isinstance(raw_dst, str) or not raw_dst.strip():
        raise ApiError(400, "dst is required")
    destinations, invalid = split_destinations(raw_dst)
    if len(destinations) + len(invalid) > MAX_DESTINATIONS:
        raise ApiError(400, f"too many destination numbers: at most {MAX_DESTINATIONS}")
    if not destinations:
        raise ApiError(400, "no valid destination number in dst", invalid_number=invalid)
    template = check_template(body.get("template"), approved)
    url = body.get("url") or None
    if url is not None and not _http_url(url):
        raise ApiError(400, "url must be an http or https URL")
    method = str(body.get("method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(400, "method must be GET or POST")
    return WhatsAppRequest(src, destinations, invalid, template, url, method)


def template_text(template: Mapping[str, Any]) -> str:
    """What the reader sees, as far as the simulator knows: the name and the parameters."""
    texts = [
        str(p.get("text", ""))
        for component in template.get("components", [])
        for p in component.get("parameters", [])
    ]
    return f"[{template['name']}] " + " | ".join(texts)


class WhatsAppService:
    """Accepts WhatsApp template messages and plays out each one's states and callbacks."""

    def __init__(
        self,
        *,
        config: SimulatorConfig,
        state: SimulatorState,
        scenarios: ScenarioBook,
        dispatcher: Dispatcher,
        sender: CallbackSender,
        messages: MessageService,
    ) -> None:
        self._config = config
        self._state = state
        self._scenarios = scenarios
        self._dispatcher = dispatcher
        self._sender = sender
        self._messages = messages
        self._pacer = Pacer(config.whatsapp_per_second)

    def reset(self) -> None:
        self._pacer.reset()

    def send(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        checked = check_request(body, tuple(self._config.whatsapp_templates))
        uuids = []
        for dst in checked.destinations:
            record = MessageRecord(
                message_uuid=new_uuid(),
                src=checked.src,
                dst=dst,
                text=template_text(checked.template),
                type=TYPE,
                units=1,
                url=checked.url,
                method=checked.method,
                log=True,
                powerpack_uuid=None,
                created=time.time(),
                template=checked.template,
            )
            self._state.add_message(record)
            self._plan(record)
            uuids.append(record.message_uuid)
        payload: dict[str, Any] = {"message": "message(s) queued", "message_uuid": uuids}
        if checked.invalid:
            payload["invalid_number"] = checked.invalid
        return 202, payload

    def _plan(self, record: MessageRecord) -> None:
        """queued now; sent at the pacer's slot; then delivered and read, or failed."""
        outcome = self._scenarios.get(record.dst).whatsapp
        uuid_, quiet = record.message_uuid, outcome.status == "no-callback"
        now = time.monotonic()
        step = partial(self._step, uuid_)
        self._dispatcher.schedule(now, uuid_, partial(step, "queued", quiet=quiet))
        slot = self._pacer.reserve(now + self._config.sms_sent_delay_s)
        if outcome.status == "failed":
            failed = partial(step, "failed", outcome.error_code, final=True)
            self._dispatcher.schedule(slot, uuid_, failed)
            return
        self._dispatcher.schedule(slot, uuid_, partial(step, "sent", quiet=quiet))
        if quiet:
            return
        later = slot + self._config.sms_delivery_delay_s
        read = outcome.status == "read"
        self._dispatcher.schedule(later, uuid_, partial(step, "delivered", final=not read))
        if read:
            later += self._config.sms_delivery_delay_s
            self._dispatcher.schedule(later, uuid_, partial(step, "read", final=True))

    def _step(
        self,
        uuid_: str,
        status: str,
        error_code: int | None = None,
        *,
        quiet: bool = False,
        final: bool = False,
    ) -> None:
        if status == "queued":
            record = self._state.message(uuid_)
        else:
            record = self._state.transition_message(uuid_, status, error_code)
        if record is None or quiet or not record.url:
            return
        params = self.callback_params(record, status)
        self._sender.send(record.url, params, record.method, kind=f"whatsapp:{status}")
        if final and self._config.duplicate_final_callback:
            self._sender.send(record.url, params, record.method, kind=f"whatsapp:{status}:dup")

    def callback_params(self, record: MessageRecord, status: str) -> dict[str, str]:
        """An SMS report's fields, with the WhatsApp-only conversation fields."""
        params = self._messages.callback_params(record, status)
        conversation = uuid.uuid5(_CONVERSATION_NAMESPACE, f"{record.src}>{record.dst}")
        params["ConversationID"] = conversation.hex
        params["ConversationOrigin"] = "utility"
        started = record.sent_time or record.created
        params["ConversationExpirationTimestamp"] = str(int(started + CONVERSATION_S))
        return params
