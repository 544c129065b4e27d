"""Outbound SMS: validate a send like Plivo, then play out each message's life.

Each destination becomes one message that is queued at once, sent when the
account's SMS pacer gives it a slot (Plivo queues excess, it does not reject),
and then delivered or not according to the number's scenario. Status callbacks
follow each step, in order by default, or shuffled and duplicated on request,
because real ones can arrive out of order and more than once.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from simulator.callbacks import CallbackSender
from simulator.config import SimulatorConfig
from simulator.dispatcher import Dispatcher
from simulator.errors import ApiError
from simulator.formats import (
    SMS_RATE,
    api_time,
    api_time_precise,
    money,
    new_uuid,
    plivo_number,
    sms_callback_time,
    sms_units,
)
from simulator.limits import Pacer
from simulator.paging import list_page
from simulator.scenarios import ScenarioBook
from simulator.state import MessageRecord, SimulatorState

MAX_DESTINATIONS = 1000
MAX_TEXT = 1600
MESSAGE_TYPES = ("sms", "mms", "whatsapp")
FAILED_STATES = ("undelivered", "failed")

ERROR_MESSAGES = {
    10: "Invalid Message",
    20: "Network Error",
    30: "Spam Detected",
    40: "Invalid Source Number",
    50: "Invalid Destination Number",
    60: "Loop Detected",
    70: "Destination Permanently Unavailable",
    80: "Destination Temporarily Unavailable",
    90: "No Route Available",
    100: "Prohibited by Carrier",
    110: "Message Too Long",
    200: "Sending Blocked by STOP Opt-out",
    201: "US Toll-free to Canada Blocked",
    420: "Message Expired",
    450: "Destination Country Not Allowed",
    451: "Messages Per Hour Threshold Exceeded",
    900: "Insufficient Credit",
    1000: "Unknown Error",
}


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _flag(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ApiError(400, f"{name} must be true or false")


def split_destinations(raw: str) -> tuple[list[str], list[str]]:
    """Valid numbers (Plivo form, first occurrence kept) and the invalid ones as given."""
    valid: dict[str, None] = {}
    invalid: list[str] = []
    for part in raw.split("<"):
        text = part.strip()
        if not text:
            continue
        number = plivo_number(text)
        if number is None:
            if text not in invalid:
                invalid.append(text)
        else:
            valid.setdefault(number, None)
    return list(valid), invalid


class MessageService:
    """Accepts sends and drives every message through queued, sent and its final state."""

    def __init__(
        self,
        *,
        config: SimulatorConfig,
        state: SimulatorState,
        scenarios: ScenarioBook,
        dispatcher: Dispatcher,
        sender: CallbackSender,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._state = state
        self._scenarios = scenarios
        self._dispatcher = dispatcher
        self._sender = sender
        self._rng = rng
        self._pacer = Pacer(config.sms_per_second)
        self._held: dict[str, list[dict[str, str]]] = {}
        self._held_lock = threading.Lock()

    def reset(self) -> None:
        self._pacer.reset()
        with self._held_lock:
            self._held.clear()

    # -- API ------------------------------------------------------------------

    def send(self, body: Mapping[str, Any]) -> tuple[int, dict[str, Any]]:
        """Validate like Plivo's `POST /Message/`; queue one message per valid destination.

        The 202 is Plivo's bulk answer: one uuid per valid destination, in the
        order given (duplicates dropped, first kept), and `invalid_number`
        listing the refused ones as written, present only when there are some.
        """
        src, powerpack_uuid = self._source(body)
        raw_dst = body.get("dst")
        if not isinstance(raw_dst, str) or not raw_dst.strip():
            raise ApiError(400, "dst is required")
        destinations, invalid = split_destinations(raw_dst)
        # Plivo's limit counts every unique number given, the invalid ones too.
        if len(destinations) + len(invalid) > MAX_DESTINATIONS:
            raise ApiError(400, f"too many destination numbers: at most {MAX_DESTINATIONS}")
        if not destinations:
            raise ApiError(400, "no valid destination number in dst", invalid_number=invalid)
        text = body.get("text")
        if not isinstance(text, str) or not text:
            raise ApiError(400, "text is required")
        if len(text) > MAX_TEXT:
            raise ApiError(400, f"text is longer than {MAX_TEXT} characters")
        message_type = str(body.get("type") or "sms").lower()
        if message_type not in MESSAGE_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(MESSAGE_TYPES)}")
        url = body.get("url") or None
        if url is not None and not _is_http_url(url):
            raise ApiError(400, "url must be an http or https URL")
        method = str(body.get("method") or "POST").upper()
        if method not in ("GET", "POST"):
            raise ApiError(400, "method must be GET or POST")
        log_flag = _flag(body.get("log"), "log", True)

        uuids = []
        for dst in destinations:
            record = MessageRecord(
                message_uuid=new_uuid(),
                src=src,
                dst=dst,
                text=text,
                type=message_type,
                units=sms_units(text),
                url=url,
                method=method,
                log=log_flag,
                powerpack_uuid=powerpack_uuid,
                created=time.time(),
            )
            self._state.add_message(record)
            self._plan(record)
            uuids.append(record.message_uuid)
        payload: dict[str, Any] = {"message": "message(s) queued", "message_uuid": uuids}
        if invalid:
            payload["invalid_number"] = invalid
        return 202, payload

    def _source(self, body: Mapping[str, Any]) -> tuple[str, str | None]:
        src = body.get("src")
        powerpack_uuid = body.get("powerpack_uuid")
        if src and powerpack_uuid:
            raise ApiError(400, "src and powerpack_uuid cannot be given together")
        if not src and not powerpack_uuid:
            raise ApiError(400, "either src or powerpack_uuid is required")
        if powerpack_uuid:
            return self._config.powerpack_number, str(powerpack_uuid)
        text = str(src).strip()
        return (plivo_number(text) or text), None

    def get(self, message_uuid: str) -> dict[str, Any]:
        record = self._state.message(message_uuid)
        if record is None:
            raise ApiError(404, "not found")
        return self.describe(record)

    def page(self, args: Mapping[str, str]) -> dict[str, Any]:
        """The `GET /Message/` list, newest first, Plivo's limit/offset paging."""
        records = list(reversed(self._state.messages()))
        if args.get("message_state"):
            records = [r for r in records if r.status == args["message_state"]]
        root = f"/v1/Account/{self._config.auth_id}/Message/"
        return list_page(records, args, root, self.describe)

    def describe(self, record: MessageRecord) -> dict[str, Any]:
        """The `GET /Message/<uuid>/` body (api_id added by the caller)."""
        if record.status == "delivered":
            error_code: str | None = "000"
        elif record.error_code is not None:
            error_code = str(record.error_code)
        else:
            error_code = None
        return {
            "error_code": error_code,
            "from_number": record.src,
            "message_direction": "outbound",
            "message_state": record.status,
            "message_time": api_time(record.created),
            "message_type": record.type,
            "message_uuid": record.message_uuid,
            "resource_uri": (f"/v1/Account/{self._config.auth_id}/Message/{record.message_uuid}/"),
            "to_number": record.dst,
            "total_amount": money(float(SMS_RATE) * record.units),
            "total_rate": SMS_RATE,
            "units": record.units,
            "message_sent_time": api_time_precise(record.sent_time),
            "message_updated_time": api_time_precise(record.updated),
            "error_message": ERROR_MESSAGES.get(record.error_code or 0, ""),
            "powerpack_id": record.powerpack_uuid,
        }

    # -- lifecycle -------------------------------------------------------------

    def _plan(self, record: MessageRecord) -> None:
        """Schedule the message's steps; the pacer decides when it is sent."""
        outcome = self._scenarios.get(record.dst).sms
        uuid = record.message_uuid
        quiet = outcome.status == "no-callback"
        now = time.monotonic()
        self._dispatcher.schedule(now, uuid, lambda: self._step(uuid, "queued", quiet=quiet))
        slot = self._pacer.reserve(now + self._config.sms_sent_delay_s)
        if outcome.status == "failed":
            self._dispatcher.schedule(
                slot, uuid, lambda: self._step(uuid, "failed", outcome.error_code, final=True)
            )
            return
        # Sent at its slot, whenever its lane gets to it: a slow "queued" callback of the
        # same message delays the step, not the moment the account's pacing sent it.
        sent_at = time.time() + (slot - now)
        self._dispatcher.schedule(
            slot, uuid, lambda: self._step(uuid, "sent", quiet=quiet, final=quiet, at=sent_at)
        )
        if quiet:
            return
        self._dispatcher.schedule(
            slot + self._config.sms_delivery_delay_s,
            uuid,
            lambda: self._step(uuid, outcome.status, outcome.error_code, final=True),
        )

    def _step(
        self,
        uuid: str,
        status: str,
        error_code: int | None = None,
        *,
        quiet: bool = False,
        final: bool = False,
        at: float | None = None,
    ) -> None:
        if status == "queued":
            record = self._state.message(uuid)
        else:
            record = self._state.transition_message(uuid, status, error_code, at)
        if record is None or quiet or not record.url:
            return
        params = self.callback_params(record, status)
        if self._config.shuffle_callbacks:
            with self._held_lock:
                held = self._held.setdefault(uuid, [])
                held.append(params)
                if not final:
                    return
                batch = self._held.pop(uuid)
            self._rng.shuffle(batch)
        else:
            batch = [params]
        for item in batch:
            self._sender.send(record.url, item, record.method, kind=f"sms:{item['Status']}")
        if final and self._config.duplicate_final_callback:
            self._sender.send(record.url, params, record.method, kind=f"sms:{status}:duplicate")

    def callback_params(self, record: MessageRecord, status: str) -> dict[str, str]:
        """The form fields of a delivery report, as of this step."""
        us = record.dst.startswith("1")
        params = {
            "MessageUUID": record.message_uuid,
            "To": record.dst,
            "From": record.src,
            "Type": record.type,
            "Status": status,
            "Units": str(record.units),
            "TotalRate": SMS_RATE,
            "TotalAmount": money(float(SMS_RATE) * record.units),
            "MCC": "310" if us else "000",
            "MNC": "260" if us else "000",
            "MessageTime": sms_callback_time(record.created),
            "QueuedTime": sms_callback_time(record.created),
            "SentTime": sms_callback_time(record.sent_time),
            "DeliveryReportTime": sms_callback_time(
                record.final_time if status in ("delivered", *FAILED_STATES) else None
            ),
        }
        if status in FAILED_STATES:
            params["ErrorCode"] = str(record.error_code)
        if record.powerpack_uuid:
            params["PowerpackUUID"] = record.powerpack_uuid
        return params
