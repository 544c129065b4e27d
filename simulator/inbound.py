"""Inbound SMS: what Plivo posts to an application's message_url when someone texts in.

An on-call engineer answers a page by text ("4A", "STOP"); the simulator plays
the phone network's part and posts the webhook, signed like every callback,
with the MessageIntent Plivo derives from the carrier keywords.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.callbacks import CallbackSender
from simulator.errors import ApiError
from simulator.formats import new_uuid, plivo_number, sms_units

OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}
OPT_IN = {"START", "YES", "UNSTOP"}
HELP = {"HELP", "INFO"}


def message_intent(text: str) -> str:
    """Plivo's MessageIntent: only a message that is exactly a keyword counts."""
    word = text.strip().upper()
    if word in OPT_OUT:
        return "optout"
    if word in OPT_IN:
        return "optin"
    if word in HELP:
        return "help"
    return ""


def send_inbound_sms(sender: CallbackSender, data: Mapping[str, Any]) -> dict[str, Any]:
    """Post the inbound webhook now; report what the receiver answered."""
    if not isinstance(data, Mapping):
        raise ApiError(400, "body must be a JSON object")
    for name in ("from", "to", "url"):
        if not isinstance(data.get(name), str) or not data[name]:
            raise ApiError(400, f"{name} is required")
    text = data.get("text")
    if not isinstance(text, str):
        raise ApiError(400, "text is required")
    method = str(data.get("method") or "POST").upper()
    if method not in ("GET", "POST"):
        raise ApiError(400, "method must be GET or POST")
    units = sms_units(text) if text else 1
    message_uuid = new_uuid()
    params = {
        "From": plivo_number(data["from"]) or data["from"],
        "To": plivo_number(data["to"]) or data["to"],
        "Text": text,
        "Type": "sms",
        "MessageUUID": message_uuid,
        "Units": str(units),
        # Inbound SMS on a long code is free on Plivo.
        "TotalRate": "0.00000",
        "TotalAmount": "0.00000",
        "MessageIntent": message_intent(text),
    }
    result = sender.send(data["url"], params, method, kind="sms:inbound")
    return {
        "message_uuid": message_uuid,
        "status": result.status,
        "error": result.error,
        "response_body": result.body[:2000],
        "params": params,
    }
